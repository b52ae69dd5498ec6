// Expression nodes: immutable and hash-consed. A Context owns every node; an
// Expr is a plain pointer to one, so structural equality is pointer equality
// and shared subexpressions are shared for free. Nodes are created only by
// the checked builders of builders.hpp, which also keep every node in
// matcalc's normal form (see docs/ARCHITECTURE.md, "Normal form").
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ir/dim.hpp"
#include "ir/ops.hpp"

namespace matcalc {

class Context;
struct Node;
using Expr = const Node*;

struct Node {
  Op op;
  Shape shape;
  std::vector<Expr> kids;
  double value = 0;     // Const
  std::string name;     // Symbol
  int power = 0;        // MatPow
  Shape param;          // Commutation: (m, n)
  bool symmetric = false;  // known to equal its own transpose (structurally)
  bool constant = false;   // contains no Symbol
  // Domain facts (ir/domain.hpp), derived when the node is interned.
  bool positive = false;    // every entry > 0 wherever defined
  bool nonneg = false;      // every entry >= 0 wherever defined
  bool restricted = false;  // undefined at some input (log, sqrt, inv, ./, ... whose condition is open)
  std::uint32_t id = 0;    // creation order within the context
  std::uint32_t depth = 1;
  std::size_t hash = 0;
  Context* ctx = nullptr;

  bool is_scalar() const { return shape.is_scalar(); }
  bool is(Op o) const { return op == o; }
  bool is_const(double v) const { return op == Op::Const && value == v; }
  bool is_zero() const { return op == Op::Zeros || is_const(0.0); }
  Expr kid(std::size_t i) const { return kids[i]; }
};

// Owns and interns nodes. Not thread-safe; one per derivation is typical.
class Context {
 public:
  Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Returns the unique node equal to `proto`, creating it when new. Only the
  // builders call this; it fills hash, id, depth, constant and ctx.
  Expr intern(Node proto);
  std::size_t size() const { return nodes_.size(); }

  // Hard cap on node count and depth: expressions past them are a Limit error.
  static constexpr std::size_t kMaxNodes = 5'000'000;
  static constexpr std::uint32_t kMaxDepth = 2'000;

  // Domain conditions assumed while some builders run (ir/domain.hpp,
  // Assume): (Condition, subject) pairs that merges may rely on. Never read
  // when a node's own facts are derived.
  std::vector<std::pair<std::uint8_t, Expr>>& assumptions() { return assumptions_; }

  // compare() of deep nodes, memoized: comparing two towers of depth d walks
  // d levels, and sorting the factors of a product compares them often.
  std::unordered_map<std::uint64_t, int>& compare_memo() { return compare_memo_; }

 private:
  struct Hash { std::size_t operator()(const Node* n) const { return n->hash; } };
  struct Eq { bool operator()(const Node* a, const Node* b) const; };
  std::deque<Node> nodes_;
  std::unordered_set<const Node*, Hash, Eq> index_;
  std::unordered_map<std::uint64_t, int> compare_memo_;
  std::vector<std::pair<std::uint8_t, Expr>> assumptions_;
};

// Total order on expressions used for canonical argument order: structural,
// independent of creation order, so equal inputs always print alike.
int compare(Expr a, Expr b);
inline bool expr_less(Expr a, Expr b) { return compare(a, b) < 0; }

// Nodes of `root` in post-order (children before parents), each once.
std::vector<Expr> topo_order(Expr root);
std::vector<Expr> topo_order(std::span<const Expr> roots);

// True when `e` mentions the symbol `sym`.
bool depends_on(Expr e, Expr sym);

}  // namespace matcalc
