// Type and shape inference: turns a parsed expression plus declarations into
// IR. Symbols that are not declared get their kind (scalar, vector, matrix)
// and their shape inferred from how they are used, by unifying symbolic
// dimensions. Where use allows several kinds, names decide as on
// matrixcalculus.org: an upper-case name prefers matrix, a lower-case one
// vector, then scalar; a tie is an error asking for a declaration.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/node.hpp"
#include "parse/parser.hpp"

namespace matcalc {

struct TypedProgram {
  Expr expr = nullptr;
  std::map<std::string, Expr> symbols;   // every symbol of the expression (and every declared one)
  std::vector<std::string> order;        // symbol names in order of first appearance
  std::vector<std::string> dims;         // dimension symbols in use
};

struct TypecheckOptions {
  bool want_scalar = false;              // the root must be a scalar (grad, check)
  std::vector<std::string> extra_names = {};  // names (e.g. --wrt) that must exist
};

TypedProgram typecheck(Context& cx, const Ast& ast, const Declarations& decls,
                       const TypecheckOptions& opt = {});

// Convenience: parse_program + typecheck, with --decl text added.
TypedProgram compile(Context& cx, const std::string& expr_text, const std::string& decl_text,
                     const TypecheckOptions& opt = {});

}  // namespace matcalc
