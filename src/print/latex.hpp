// LaTeX printer: ^\top, ^{-1}, \operatorname{tr}, \log\det, \odot, \otimes,
// minimal parentheses (the same precedence base as the text printer).
#pragma once
#include <string>

#include "ir/node.hpp"
#include "print/text.hpp"

namespace matcalc {
std::string to_latex(Expr e);
std::string to_latex(Expr e, const Spellings& spellings);  // as to_text(e, spellings)
}
