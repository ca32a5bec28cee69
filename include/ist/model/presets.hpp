#pragma once
// Ready-made pre-activation ResNets.
#include "ist/model/resnet.hpp"

namespace ist {

// CIFAR-layout pre-activation ResNet with 6*BlocksPerStage + 2 layers: 3x3 stem to 16 channels, three
// stages of 16/32/64 channels (strides 1/2/2), head. Stages 2 and 3 are Partitioned, so ResIST deals out
// 2*(BlocksPerStage-1) blocks; pass Shared stages yourself for other cuts.
template <int BlocksPerStage, int InChannels = 3, int Classes = 10>
using PreActResNetCifar =
    ResNet<Stem<InChannels, 16>, Stage<16, 16, BlocksPerStage, 1>, Stage<16, 32, BlocksPerStage, 2, Partitioned>,
           Stage<32, 64, BlocksPerStage, 2, Partitioned>, Head<64, Classes>>;

template <int InChannels = 3, int Classes = 10>
using PreActResNet20 = PreActResNetCifar<3, InChannels, Classes>;
template <int InChannels = 3, int Classes = 10>
using PreActResNet32 = PreActResNetCifar<5, InChannels, Classes>;
template <int InChannels = 3, int Classes = 10>
using PreActResNet56 = PreActResNetCifar<9, InChannels, Classes>;
template <int InChannels = 3, int Classes = 10>
using PreActResNet110 = PreActResNetCifar<18, InChannels, Classes>;

// The ResIST reference code's PreActResNet (dunchen/ResIST_release, after kuangliu/pytorch-cifar), exactly:
// a 3x3 stem conv to 64 channels without batch norm; basic-block stages of B1, B2, B3, B4 blocks, widths
// 64/128/256/512, strides 1/2/2/2; a 1x1 conv shortcut on the pre-activated input where the shape changes;
// average pool and linear with no final batch norm (Head<512, K, NoFinalBn>). Stage 3 is partitioned, as in
// the paper. No conv has a bias; the linear layer has one.
template <int B1, int B2, int B3, int B4, int InChannels = 3, int Classes = 10>
using PreActResNetResist =
    ResNet<Stem<InChannels, 64>, Stage<64, 64, B1, 1>, Stage<64, 128, B2, 2>, Stage<128, 256, B3, 2, Partitioned>,
           Stage<256, 512, B4, 2>, Head<512, Classes, NoFinalBn>>;

// The ResIST paper's "PreActResNet101": blocks [3, 4, 23, 3], stage 3 partitioned (22 decomposable blocks).
template <int InChannels = 3, int Classes = 10>
using PreActResNet101Resist = PreActResNetResist<3, 4, 23, 3, InChannels, Classes>;

// The CPU-sized analogue for 1x28x28 inputs (ResIST's default here): stages of [1, 1, 9, 1] blocks,
// widths 16/32/64/128, strides 1/2/2/2, stage 3 partitioned: 0.90 M parameters, 66% of them in the 8
// decomposable blocks.
template <int InChannels = 1, int Classes = 10>
using PreActResNet26Fashion =
    ResNet<Stem<InChannels, 16>, Stage<16, 16, 1, 1>, Stage<16, 32, 1, 2>, Stage<32, 64, 9, 2, Partitioned>,
           Stage<64, 128, 1, 2>, Head<128, Classes>>;

// The same network with the ResIST reference code's head (no final batch norm): the model of the official
// code's protocol scaled down for CPUs (issue "ResIST fidelity"), and the CIFAR-10 ResIST comparison's
// model (docs/results.md). With 3x32x32 inputs its last stage runs at 4x4, as the reference network's does.
template <int InChannels = 3, int Classes = 10>
using PreActResNet26Resist =
    ResNet<Stem<InChannels, 16>, Stage<16, 16, 1, 1>, Stage<16, 32, 1, 2>, Stage<32, 64, 9, 2, Partitioned>,
           Stage<64, 128, 1, 2>, Head<128, Classes, NoFinalBn>>;

}  // namespace ist
