// A fully parenthesised rendering of a parser AST, for parser tests:
// `a + b*c` shows as `(a + (b * c))`, a call as `f(x,y)`.
#pragma once
#include <string>

#include "parse/ast.hpp"

namespace matcalc::testing {

inline std::string show(const Ast& a) {
  switch (a.kind) {
    case Ast::Kind::Number:
    case Ast::Kind::Name: return a.text;
    case Ast::Kind::Call: {
      std::string s = a.text + "(";
      for (std::size_t i = 0; i < a.kids.size(); ++i) s += (i ? "," : "") + show(*a.kids[i]);
      return s + ")";
    }
    case Ast::Kind::Neg: return "(-" + show(*a.kids[0]) + ")";
    case Ast::Kind::Chain: {
      std::string s = "(" + show(*a.kids[0]);
      for (std::size_t i = 1; i < a.kids.size(); ++i) s += " " + a.ops[i] + " " + show(*a.kids[i]);
      return s + ")";
    }
    case Ast::Kind::Power: return "(" + show(*a.kids[0]) + a.text + show(*a.kids[1]) + ")";
    case Ast::Kind::Transpose: return "(" + show(*a.kids[0]) + ")'";
  }
  return "?";
}

}  // namespace matcalc::testing
