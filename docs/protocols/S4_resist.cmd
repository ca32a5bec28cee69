ist-train --protocol resist --model resnet26-fashion -S 4 -L 50 --epochs 2.0 --batch 128 --seed 1 --threads 1 --data-split shuffled --eval-every 1 --train-subset 16000 --test-subset 0 --quiet
