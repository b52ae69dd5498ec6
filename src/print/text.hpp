// The text printer: matcalc's own language (LANGUAGE.md), on one line, that
// parses back to the same function. An identity prints as `I` where its size
// can be read from its place, else as `eye(n)`.
#pragma once
#include <string>
#include <unordered_map>

#include "ir/node.hpp"

namespace matcalc {

std::string to_text(Expr e);

// Spellings that replace how particular nodes print: `explain` writes its
// placeholder symbols as d(...). A node listed here prints as an atom.
using Spellings = std::unordered_map<Expr, std::string>;
std::string to_text(Expr e, const Spellings& spellings);

// A symbol's declaration in the language: "W: matrix(n,k)", "S: symmetric(n)".
std::string to_declaration(Expr symbol);

}  // namespace matcalc
