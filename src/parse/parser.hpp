// Recursive-descent parser for the expression and declaration language of
// LANGUAGE.md. Errors carry the exact column of the offending token.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/dim.hpp"
#include "ir/ops.hpp"  // is_function_name
#include "parse/ast.hpp"

namespace matcalc {

// A declared symbol: `W: matrix(n,k)`, `S: symmetric(n)`, `s: scalar`.
struct Declaration {
  enum class Kind { Scalar, Vector, Matrix, Symmetric };
  std::string name;
  Kind kind;
  Dim rows = Dim::literal(1), cols = Dim::literal(1);
  int pos = 0;
};
using Declarations = std::vector<Declaration>;

// Parses one expression; `base` is added to every error column (for text
// that sits inside a longer source).
AstPtr parse_expression(const std::string& src, int base = 0);

// Parses declarations separated by ';' or newlines.
Declarations parse_declarations(const std::string& src);

// A program: declaration items followed by one expression, separated by
// ';' or newlines ("W: matrix(n,k); logdet(W'*W)").
struct Program {
  Declarations decls;
  AstPtr expr;
};
Program parse_program(const std::string& src);

}  // namespace matcalc
