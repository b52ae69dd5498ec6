// The text printer: matcalc's own language (LANGUAGE.md), on one line, that
// parses back to the same function. An identity prints as `I` where its size
// can be read from its place, else as `eye(n)`.
#pragma once
#include <string>

#include "ir/node.hpp"

namespace matcalc {

std::string to_text(Expr e);

}  // namespace matcalc
