#include "parse/suggest.hpp"

namespace matcalc {

std::string unknown_function_message(const std::string& name) { return "unknown function '" + name + "'"; }

}  // namespace matcalc
