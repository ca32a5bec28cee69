#pragma once
// Maps a preset name from the command line to its compile-time ResNet type.
#include <string>
#include <string_view>

#include "ist/core/error.hpp"
#include "ist/model/init.hpp"
#include "ist/model/presets.hpp"

namespace ist::examples {

inline constexpr const char* kModelNames = "resnet26-fashion, resnet26-resist, resnet20, resnet32, resnet56, resnet110, resnet101";

// --init-scheme: "kaiming" | "torch" | "auto", the preset's own: PyTorch's default initialization for the presets
// that follow the ResIST reference code (resnet26-resist, resnet101: it trains from PyTorch's defaults),
// Kaiming normal for the others.
inline InitScheme init_scheme_of(std::string_view model, std::string_view flag) {
  if (flag == "torch") return InitScheme::TorchDefault;
  if (flag == "kaiming") return InitScheme::KaimingNormal;
  return model == "resnet26-resist" || model == "resnet101" ? InitScheme::TorchDefault : InitScheme::KaimingNormal;
}

// Calls fn.template operator()<Net>() with the preset `name` built for `channels` input channels.
template <class Fn>
decltype(auto) with_model(std::string_view name, int channels, Fn&& fn) {
  IST_CHECK(channels == 1 || channels == 3, "--model: presets are built for 1 or 3 input channels, the data has ",
            channels);
  auto pick = [&]<int C>() -> decltype(auto) {
    if (name == "resnet26-fashion") return fn.template operator()<PreActResNet26Fashion<C, 10>>();
    if (name == "resnet26-resist") return fn.template operator()<PreActResNet26Resist<C, 10>>();
    if (name == "resnet20") return fn.template operator()<PreActResNet20<C, 10>>();
    if (name == "resnet32") return fn.template operator()<PreActResNet32<C, 10>>();
    if (name == "resnet56") return fn.template operator()<PreActResNet56<C, 10>>();
    if (name == "resnet110") return fn.template operator()<PreActResNet110<C, 10>>();
    if (name == "resnet101") return fn.template operator()<PreActResNet101Resist<C, 10>>();
    fail("--model: expected one of ", kModelNames, ", found \"", name, "\"");
  };
  if (channels == 1) return pick.template operator()<1>();
  return pick.template operator()<3>();
}

}  // namespace ist::examples
