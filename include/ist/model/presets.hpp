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

// The ResIST paper's "PreActResNet101": basic blocks [3, 4, 23, 3], widths 64/128/256/512, stage 3
// partitioned (22 decomposable blocks).
template <int InChannels = 3, int Classes = 10>
using PreActResNet101Resist =
    ResNet<Stem<InChannels, 64>, Stage<64, 64, 3, 1>, Stage<64, 128, 4, 2>, Stage<128, 256, 23, 2, Partitioned>,
           Stage<256, 512, 3, 2>, Head<512, Classes>>;

// The CPU-sized analogue for 1x28x28 inputs (ResIST's default here): stages of [1, 1, 9, 1] blocks,
// widths 16/32/64/128, strides 1/2/2/2, stage 3 partitioned: 0.90 M parameters, 66% of them in the 8
// decomposable blocks.
template <int InChannels = 1, int Classes = 10>
using PreActResNet26Fashion =
    ResNet<Stem<InChannels, 16>, Stage<16, 16, 1, 1>, Stage<16, 32, 1, 2>, Stage<32, 64, 9, 2, Partitioned>,
           Stage<64, 128, 1, 2>, Head<128, Classes>>;

}  // namespace ist
