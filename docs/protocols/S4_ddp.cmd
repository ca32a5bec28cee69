ist-train --protocol ddp --model resnet26-fashion -S 4 -L 1 --epochs 2.0 --batch 128 --seed 1 --threads 1 --data-split shuffled --eval-every 50 --train-subset 16000 --test-subset 0 --quiet
