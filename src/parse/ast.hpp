// The untyped syntax tree the parser produces. Type and shape inference
// (typecheck.hpp) turns it into IR. Chains of one precedence level (a + b - c,
// a * b / c) are stored flat, so a long sum is one node, not a deep tree.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace matcalc {

struct Ast {
  enum class Kind { Number, Name, Call, Neg, Chain, Power, Transpose };
  Kind kind;
  std::string text;               // Name, Call: the identifier; Power: "^" or ".^"
  double number = 0;              // Number
  std::vector<std::unique_ptr<Ast>> kids;
  std::vector<std::string> ops;   // Chain: ops[i] joins kids[i-1] and kids[i] ("+", "-", "*", ...)
  int pos = 0;                    // 0-based offset into the source
  int len = 1;
  bool integer_literal = false;   // Number written without '.' or exponent
  int height = 1;                 // longest path down to a leaf (<= kMaxHeight)

  Ast(Kind k, int p, int l = 1) : kind(k), pos(p), len(l) {}
};
using AstPtr = std::unique_ptr<Ast>;

// Parser limits: deeper nesting is a Limit error, never a stack overflow.
inline constexpr int kMaxNesting = 400;
inline constexpr int kMaxHeight = 2000;  // of the tree, as Context::kMaxDepth for IR
inline constexpr std::size_t kMaxSourceBytes = 4u << 20;

}  // namespace matcalc
