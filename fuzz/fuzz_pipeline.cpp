// libFuzzer target: the pipeline entry of fuzz/entry.hpp.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  matcalc::fuzz::pipeline(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
