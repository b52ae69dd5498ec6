// Type and shape inference: turns a parsed expression plus declarations into
// IR. Symbols that are not declared get their kind (scalar, vector, matrix)
// and their shape inferred from how they are used, by unifying symbolic
// dimensions. Where use allows several kinds, names decide as on
// matrixcalculus.org: an upper-case name prefers matrix, a lower-case one
// vector, then scalar; a tie is an error asking for a declaration.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ir/node.hpp"
#include "parse/parser.hpp"

namespace matcalc {

// A reading that inference chose against a name's habit, or a likely typo:
// `message` names the symbol and the reading; `column` (1-based) and
// `length` point at the symbol's first use in the source (0: nowhere).
struct InferenceWarning {
  std::string message;
  int column = 0;
  int length = 1;
};

struct TypedProgram {
  Expr expr = nullptr;
  std::vector<InferenceWarning> warnings;  // in order of the source
  std::map<std::string, Expr> symbols;   // every symbol of the expression (and every declared one)
  std::vector<std::string> order;        // symbol names in order of first appearance
  std::vector<std::string> dims;         // dimension symbols in use
};

struct TypecheckOptions {
  bool want_scalar = false;              // the root must be a scalar (grad, check)
  std::string scalar_reason = "a gradient needs a scalar function";  // said when the root is not one
  std::vector<std::string> extra_names = {};  // names (e.g. --wrt) that must exist
  std::string_view source = {};               // the text the AST's positions point into, for messages
  std::map<std::string, std::string> kinds = {};  // "scalar"/"vector"/"matrix" known for undeclared symbols
};

TypedProgram typecheck(Context& cx, const Ast& ast, const Declarations& decls,
                       const TypecheckOptions& opt = {});

// Convenience: parse_program + typecheck, with --decl text added.
TypedProgram compile(Context& cx, const std::string& expr_text, const std::string& decl_text,
                     const TypecheckOptions& opt = {});

}  // namespace matcalc
