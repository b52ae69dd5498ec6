#include "ir/node.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <unordered_map>
#include <unordered_set>

#include "ir/domain.hpp"
#include "ir/error.hpp"

namespace matcalc {

namespace {
struct OpInfo {
  std::string_view spelling;
  std::string_view name;
  OpForm form;
  int arity;
  OpClass cls;
  ShapeRule shape;
  OpDomain domain;
};
constexpr OpInfo kOps[] = {
#define MATCALC_OP(E, S, F, A, C, R, D) {S, #E, OpForm::F, A, OpClass::C, ShapeRule::R, OpDomain::D},
#include "ir/ops.def"
#undef MATCALC_OP
};
static_assert(std::size(kOps) == static_cast<std::size_t>(kOpCount));

const OpInfo& info(Op op) { return kOps[static_cast<int>(op)]; }

inline void mix(std::size_t& h, std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); }

std::size_t hash_str(const std::string& s) {
  std::size_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::size_t hash_dim(const Dim& d) {
  std::size_t h = static_cast<std::size_t>(d.coeff());
  for (const auto& f : d.factors()) mix(h, hash_str(f));
  return h;
}
}  // namespace

std::string_view op_spelling(Op op) { return info(op).spelling; }
std::string_view op_name(Op op) { return info(op).name; }
int op_arity(Op op) { return info(op).arity; }
OpForm op_form(Op op) { return info(op).form; }
OpClass op_class(Op op) { return info(op).cls; }
ShapeRule op_shape_rule(Op op) { return info(op).shape; }
OpDomain op_domain(Op op) { return info(op).domain; }

std::optional<ElementwiseFn> elementwise_fn(Op op) {
#define MATCALC_IS_Elementwise(E) return ElementwiseFn::E;
#define MATCALC_IS_Leaf(E) return std::nullopt;
#define MATCALC_IS_Arithmetic(E) return std::nullopt;
#define MATCALC_IS_Structural(E) return std::nullopt;
#define MATCALC_IS_Reduction(E) return std::nullopt;
#define MATCALC_IS_MatrixFunction(E) return std::nullopt;
  switch (op) {
#define MATCALC_OP(E, S, F, A, C, R, D) \
  case Op::E:                           \
    MATCALC_IS_##C(E)
#include "ir/ops.def"
#undef MATCALC_OP
  }
#undef MATCALC_IS_Elementwise
#undef MATCALC_IS_Leaf
#undef MATCALC_IS_Arithmetic
#undef MATCALC_IS_Structural
#undef MATCALC_IS_Reduction
#undef MATCALC_IS_MatrixFunction
  return std::nullopt;
}

std::optional<Op> call_op(std::string_view name) {
  for (int i = 0; i < kOpCount; ++i)
    if (kOps[i].form == OpForm::Call && kOps[i].spelling == name) return op_at(i);
  return std::nullopt;
}

Context::Context() = default;

bool Context::Eq::operator()(const Node* a, const Node* b) const {
  if (a->op != b->op || a->kids != b->kids || !(a->shape == b->shape) || a->power != b->power || a->name != b->name ||
      a->symmetric != b->symmetric || !(a->param == b->param))
    return false;
  // Bitwise so that -0.0 and 0.0 stay distinct nodes and NaN equals itself.
  return std::memcmp(&a->value, &b->value, sizeof(double)) == 0;
}

Expr Context::intern(Node proto) {
  std::size_t h = static_cast<std::size_t>(proto.op) * 0x100000001b3ULL;
  mix(h, hash_dim(proto.shape.rows));
  mix(h, hash_dim(proto.shape.cols));
  for (Expr k : proto.kids) mix(h, k->hash);
  std::uint64_t bits;
  std::memcpy(&bits, &proto.value, sizeof bits);
  mix(h, bits);
  mix(h, hash_str(proto.name));
  mix(h, static_cast<std::size_t>(proto.power));
  mix(h, hash_dim(proto.param.rows));
  mix(h, hash_dim(proto.param.cols));
  mix(h, proto.symmetric);
  proto.hash = h;
  if (auto it = index_.find(&proto); it != index_.end()) return *it;

  if (nodes_.size() >= kMaxNodes)
    throw Error(ErrorKind::Limit, "expression too large (more than " +
                                      std::to_string(kMaxNodes) + " distinct subexpressions)");
  proto.depth = 1;
  proto.constant = proto.op != Op::Symbol;
  for (Expr k : proto.kids) {
    proto.depth = std::max(proto.depth, k->depth + 1);
    proto.constant = proto.constant && k->constant;
  }
  if (proto.depth > kMaxDepth)
    throw Error(ErrorKind::Limit,
                "expression nested too deeply (more than " + std::to_string(kMaxDepth) + " levels)");
  derive_domain_facts(proto);
  proto.id = static_cast<std::uint32_t>(nodes_.size());
  proto.ctx = this;
  nodes_.push_back(std::move(proto));
  const Node* n = &nodes_.back();
  index_.insert(n);
  return n;
}

namespace {
int compare_kids(Expr a, Expr b);
}  // namespace

int compare(Expr a, Expr b) {
  if (a == b) return 0;
  if (a->op != b->op) return a->op < b->op ? -1 : 1;
  // The payloads (Const, Symbol, MatPow) first; every other operator is
  // ordered by its arguments below.
  if (a->op == Op::Const && a->value != b->value) return a->value < b->value ? -1 : 1;
  if (a->op == Op::Symbol && a->name != b->name) return a->name < b->name ? -1 : 1;
  if (a->op == Op::MatPow && a->power != b->power) return a->power < b->power ? -1 : 1;
  if (a->op == Op::Commutation && !(a->param == b->param)) {
    if (a->param.rows != b->param.rows) return a->param.rows < b->param.rows ? -1 : 1;
    return a->param.cols < b->param.cols ? -1 : 1;
  }
  // Deep nodes: memoized per context (pairs of interned nodes never change
  // order), so that comparing nested towers is not quadratic.
  constexpr std::uint32_t kMemoDepth = 16;
  constexpr std::size_t kMaxMemo = 1 << 20;
  std::unordered_map<std::uint64_t, int>* memo = nullptr;
  std::uint64_t key = 0;
  if (a->depth > kMemoDepth && b->depth > kMemoDepth && a->ctx == b->ctx && a->ctx) {
    memo = &a->ctx->compare_memo();
    key = (static_cast<std::uint64_t>(a->id) << 32) | b->id;
    if (auto it = memo->find(key); it != memo->end()) return it->second;
  }
  int c = compare_kids(a, b);
  if (memo) {
    if (memo->size() >= kMaxMemo) memo->clear();
    memo->emplace(key, c);
  }
  return c;
}

namespace {
int compare_kids(Expr a, Expr b) {
  std::size_t n = std::min(a->kids.size(), b->kids.size());
  for (std::size_t i = 0; i < n; ++i)
    if (int c = compare(a->kids[i], b->kids[i])) return c;
  if (a->kids.size() != b->kids.size()) return a->kids.size() < b->kids.size() ? -1 : 1;
  if (!(a->shape == b->shape)) {
    if (a->shape.rows != b->shape.rows) return a->shape.rows < b->shape.rows ? -1 : 1;
    return a->shape.cols < b->shape.cols ? -1 : 1;
  }
  if (a->symmetric != b->symmetric) return a->symmetric ? 1 : -1;
  return a->id < b->id ? -1 : 1;  // unreachable for interned nodes
}
}  // namespace

std::vector<Expr> topo_order(std::span<const Expr> roots) {
  // Iterative DFS: expression depth never touches the C++ stack here.
  std::vector<Expr> order;
  std::unordered_set<Expr> seen;
  std::vector<std::pair<Expr, std::size_t>> stack;
  for (Expr r : roots) {
    if (!seen.insert(r).second) continue;
    stack.push_back({r, 0});
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->kids.size()) {
        Expr k = n->kids[i++];
        if (seen.insert(k).second) stack.push_back({k, 0});
      } else {
        order.push_back(n);
        stack.pop_back();
      }
    }
  }
  return order;
}

std::vector<Expr> topo_order(Expr root) { return topo_order(std::span<const Expr>(&root, 1)); }

bool depends_on(Expr e, Expr sym) {
  if (e->constant) return false;
  for (Expr n : topo_order(e))
    if (n == sym) return true;
  return false;
}

}  // namespace matcalc
