// Numeric evaluation of IR (see evaluate.hpp). Guarantees:
//   - every node is evaluated at most once per Evaluator (memoized by node),
//     iteratively in post-order, so expression depth never reaches the C++
//     stack;
//   - an Inv factor inside a product chain is never formed: inv(A)*B is a
//     solve with A's factorization, B*inv(A) a transposed solve; inv(A) is
//     formed (by a solve against the identity) only where it stands alone;
//   - a matrix is factorized at most once (cached by node): Cholesky for
//     structurally symmetric nodes when positive definite, partial-pivoting
//     LU otherwise; inv(A') reuses A's factorization with transposed solves;
//   - the multiplication order of a chain is chosen by the classic
//     matrix-chain dynamic program on the actual sizes;
//   - logdet is computed from the factorization's diagonal, never as
//     log(det(A)) (and a log(det(A)) node is evaluated as logdet(A)); det
//     exactly for integer matrices within Hadamard's bound (Bareiss), else
//     from LU with partial pivoting (never Cholesky), in scaled form: the
//     pivot product never over- or underflows on the way;
//   - a scalar whose double is not its value (a det, or a product, power,
//     sum, log, root or |.| of one, that under- or overflows) is kept beside
//     it as mantissa and exponent (Wide) and read so by those operations;
//     other operations read the nearest double (0, a subnormal or +-inf);
//     a root that overflows is a Domain error;
//   - a value is freed after its last read by the nodes still to be
//     evaluated (counts over the DAG of the planned roots and the requested
//     one); roots stay; the entries held at once are capped (kMaxLiveEntries);
//   - every value outside a function's domain, and every non-finite result,
//     is an Error of kind Domain naming the function.
#include "eval/evaluate.hpp"

#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numbers>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "eval/scaled.hpp"
#include "ir/error.hpp"

namespace matcalc {

namespace {

using Index = Eigen::Index;

// Below this reciprocal condition number (1-norm estimate) a matrix is
// treated as singular for inversion and solves: solutions would carry fewer
// than ~3 correct digits, which is never what a user of inv() means.
constexpr double kSingularRcond = 1e-13;

// No value, and no intermediate product, may hold more entries than this (1 GiB
// of doubles): past it, a Limit error rather than an attempt to allocate.
constexpr std::int64_t kMaxEntries = std::int64_t{1} << 27;

// All values held at once (those still to be read, the roots, and the
// factorizations) may hold at most this many entries (2 GiB): past it, a
// Limit error. A value is freed after its last read, so this bounds the
// width of the evaluation, not its length.
constexpr std::int64_t kMaxLiveEntries = std::int64_t{1} << 28;

void check_entries(std::int64_t rows, std::int64_t cols) {
  if (rows > 0 && cols > kMaxEntries / rows)
    throw Error(ErrorKind::Limit, "a value of size " + std::to_string(rows) + " x " + std::to_string(cols) +
                                      " is too large to evaluate (limit " + std::to_string(kMaxEntries) +
                                      " entries)");
}

// Chains longer than this skip the O(m^3) ordering DP and fold greedily.
constexpr std::size_t kMaxDpChain = 128;

std::string fmt_num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The symbols of the operators that ops.def writes with symbols (infix and
// postfix forms), as messages name them.
struct OperatorSymbol {
  Op op;
  std::string_view name;
};
constexpr OperatorSymbol kOperatorSymbols[] = {
    {Op::Add, "'+'"},      {Op::Mul, "'*'"},      {Op::Pow, "'^'"},      {Op::MatPow, "matrix power '^'"},
    {Op::ElemMul, "'.*'"}, {Op::ElemDiv, "'./'"}, {Op::ElemPow, "'.^'"}, {Op::Transpose, "transpose"},
};

// Every infix and postfix operator of ops.def has its symbol above.
constexpr OpForm kForms[] = {
#define MATCALC_OP(E, S, F, A, C, R, D) OpForm::F,
#include "ir/ops.def"
#undef MATCALC_OP
};
constexpr bool every_operator_symbol_known() {
  for (int i = 0; i < kOpCount; ++i) {
    if (kForms[i] != OpForm::Infix && kForms[i] != OpForm::Postfix) continue;
    bool found = false;
    for (const OperatorSymbol& s : kOperatorSymbols) found = found || s.op == op_at(i);
    if (!found) return false;
  }
  return true;
}
static_assert(every_operator_symbol_known(), "evaluate.cpp: an infix or postfix operator without its symbol");

// The name of an operator in messages: the call spelling for functions, the
// operator symbol for infix operators.
std::string fn_name(Op op) {
  switch (op_form(op)) {
    case OpForm::Literal:
    case OpForm::Call: return std::string(op_spelling(op));
    case OpForm::Infix:
    case OpForm::Postfix:
      for (const OperatorSymbol& s : kOperatorSymbols)
        if (s.op == op) return std::string(s.name);
      break;  // unreachable: checked above
  }
  return std::string(op_spelling(op));
}

[[noreturn]] void domain_error(const std::string& fn, const std::string& what) {
  throw Error(ErrorKind::Domain, fn + ": " + what);
}

// Operands of an entrywise operation must agree in size. The IR's shapes
// guarantee it whenever the bindings are consistent; this turns inconsistent
// hand-made bindings into an error instead of an Eigen assertion.
void same_size(const std::string& fn, const Matrix& a, const Matrix& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw Error(ErrorKind::Shape, fn + ": sizes " + std::to_string(a.rows()) + " x " +
                                      std::to_string(a.cols()) + " and " + std::to_string(b.rows()) +
                                      " x " + std::to_string(b.cols()) + " differ");
}

std::int64_t dim_in(const Dim& d, const std::map<std::string, std::int64_t>& dims) {
  if (auto v = d.value(dims)) return *v;
  std::string missing;
  for (const auto& f : d.factors())
    if (!dims.count(f)) missing = f;
  if (missing.empty())
    throw Error(ErrorKind::Limit, "dimension " + d.str() + " is too large");
  throw Error(ErrorKind::Value,
              "no size for dimension '" + missing + "' (no value binds it; give it with --dims " + missing + "=SIZE)");
}

// ----------------------------------------------------------- factorizations

// A factorization of one square matrix, computed once and reused by every
// inv, solve, det and logdet of that matrix.
struct Factor {
  enum class Kind { Cholesky, LU } kind = Kind::LU;
  Eigen::LLT<Matrix> llt;
  Eigen::PartialPivLU<Matrix> lu;
  Index n = 0;
  bool zero_pivot = false;  // exactly singular
  double rcond = 0;         // reciprocal condition estimate (1-norm)
  double norm1 = 0;         // of the matrix

  Factor(const Matrix& a, bool symmetric) : n(a.rows()), norm1(a.cwiseAbs().colwise().sum().maxCoeff()) {
    if (symmetric) {
      // Cholesky is the cheapest and most stable choice for SPD matrices.
      // A symmetric indefinite matrix goes to LU rather than LDLT: Eigen's
      // LDLT uses 1x1 pivots only, which is not backward stable there.
      llt.compute(a);
      if (llt.info() == Eigen::Success && (llt.matrixLLT().diagonal().array() > 0).all()) {
        kind = Kind::Cholesky;
        rcond = llt.rcond();
        return;
      }
    }
    kind = Kind::LU;
    lu.compute(a);
    zero_pivot = (lu.matrixLU().diagonal().array() == 0).any();
    // The rcond estimate solves with the factors: meaningless with a zero pivot.
    rcond = zero_pivot ? 0 : lu.rcond();
    if (!std::isfinite(rcond)) rcond = 0;
  }

  // Whether the smallest pivot is at the level of the factorization's own
  // rounding (n * eps * |A|): then it may be 0 in exact arithmetic, and so
  // is the determinant: logdet of [[2,1,2],[1,3,1],[2,1,2]] is no number.
  // A small pivot above it is a determinant known to some digits
  // (logdet(diag(1, 1e-15)) = log(1e-15)).
  bool pivot_at_rounding_level() const {
    const double level = double(n) * std::numeric_limits<double>::epsilon() * norm1;
    if (kind == Kind::Cholesky) return (llt.matrixLLT().diagonal().array().square() <= level).any();
    return (lu.matrixLU().diagonal().array().abs() <= level).any();
  }

  void require_invertible(const std::string& fn) const {
    if (zero_pivot) domain_error(fn, "matrix is singular (zero pivot in its LU factorization)");
    if (!(rcond >= kSingularRcond))
      domain_error(fn, "matrix is singular (reciprocal condition number " + fmt_num(rcond) +
                           " is below " + fmt_num(kSingularRcond) + ")");
  }

  // A^-1 b, or A^-T b when `transposed`.
  Matrix solve(const Matrix& b, bool transposed) const {
    if (kind == Kind::Cholesky) return llt.solve(b);  // symmetric: A^-T = A^-1
    if (transposed) return lu.transpose().solve(b);
    return lu.solve(b);
  }

  // log|det A| and the sign of det A (0 when singular).
  std::pair<double, int> log_abs_det() const {
    if (kind == Kind::Cholesky)
      return {2.0 * llt.matrixLLT().diagonal().array().log().sum(), 1};
    if (zero_pivot) return {-std::numeric_limits<double>::infinity(), 0};
    auto d = lu.matrixLU().diagonal();
    double s = 0;
    int sign = static_cast<int>(lu.permutationP().determinant());
    for (Index i = 0; i < d.size(); ++i) {
      s += std::log(std::fabs(d(i)));
      if (d(i) < 0) sign = -sign;
    }
    return {s, sign};
  }
};

// The matrix whose factorization an Inv node needs, and whether the Inv is
// of its transpose: inv(B') is solved with B's factorization, transposed.
std::pair<Expr, bool> factor_source(Expr inv_node) {
  Expr a = inv_node->kid(0);
  if (a->op == Op::Transpose) return {a->kid(0), true};
  return {a, false};
}

bool is_chain_inv(Expr k) { return k->op == Op::Inv && !k->is_scalar(); }

// Factors of a product chain that are applied, never formed: a commutation
// matrix permutes rows, diag(v) scales them, kron(A, B)*vec(V) = vec(B*V*A')
// (with A and B applied the same way), an identity does nothing.
bool is_chain_structured(Expr k) {
  if (k->is_scalar()) return false;
  return k->op == Op::Commutation || k->op == Op::Identity || k->op == Op::Diag || k->op == Op::Kron;
}

// The values a structured factor reads: those of its dense parts.
void structured_reads(Expr k, std::vector<Expr>& out) {
  if (k->op == Op::Diag) {
    out.push_back(k->kid(0));
  } else if (k->op == Op::Kron) {
    for (Expr part : k->kids) {
      if (is_chain_structured(part))
        structured_reads(part, out);
      else
        out.push_back(part);
    }
  }
}

// log(det(X)) is logdet(X) (LANGUAGE.md): evaluated from X's factorization so
// that det's overflow or underflow never reaches the log, whether or not the
// simplifier rewrote it.
bool is_log_det(Expr n) { return n->op == Op::Log && n->kid(0)->op == Op::Det; }

// The nodes whose values evaluating `n` reads. An Inv inside a product chain
// is not evaluated itself: the chain solves with its argument's factorization.
void dependencies(Expr n, std::vector<Expr>& out) {
  out.clear();
  // clang-format off
  switch (n->op) {
    case Op::Mul:
      for (Expr k : n->kids) {
        if (is_chain_inv(k))
          out.push_back(factor_source(k).first);
        else if (is_chain_structured(k))
          structured_reads(k, out);
        else
          out.push_back(k);
      }
      break;
    case Op::Inv:
      out.push_back(factor_source(n).first);
      break;
    case Op::Log:
      out.push_back(is_log_det(n) ? n->kid(0)->kid(0) : n->kid(0));
      break;
    case Op::Const: case Op::Symbol: case Op::Identity: case Op::Zeros: case Op::Ones: case Op::Add:
    case Op::Pow: case Op::MatPow: case Op::ElemMul: case Op::ElemDiv: case Op::ElemPow:
    case Op::Transpose: case Op::Trace: case Op::Det: case Op::LogDet: case Op::Diag: case Op::DiagPart:
    case Op::Sum: case Op::Norm2: case Op::Norm1: case Op::Vec: case Op::Reshape: case Op::Kron:
    case Op::Sym: case Op::LogSumExp: case Op::Softmax: case Op::Exp: case Op::Sqrt: case Op::Sin:
    case Op::Cos: case Op::Tan: case Op::Tanh: case Op::Abs: case Op::Sign: case Op::Sigmoid:
    case Op::Softplus: case Op::Relu: case Op::Commutation:
      out.insert(out.end(), n->kids.begin(), n->kids.end());
      break;
  }
  // clang-format on
}

// --------------------------------------------------------- elementwise maps

template <class F>
Matrix map_entries(const Matrix& x, F f) {
  Matrix r(x.rows(), x.cols());
  for (Index i = 0; i < x.size(); ++i) r.data()[i] = f(x.data()[i]);
  return r;
}

double stable_sigmoid(double t) {
  if (t >= 0) return 1.0 / (1.0 + std::exp(-t));
  double e = std::exp(t);
  return e / (1.0 + e);
}

double stable_softplus(double t) { return std::log1p(std::exp(-std::fabs(t))) + std::max(t, 0.0); }

bool is_integer(double p) { return std::isfinite(p) && p == std::round(p); }

// base^p with the domain checked: a negative base needs an integer exponent,
// a zero base a non-negative one.
double checked_pow(const std::string& fn, double base, double p) {
  if (base < 0 && !is_integer(p))
    domain_error(fn, "negative base " + fmt_num(base) + " with non-integer exponent " + fmt_num(p));
  if (base == 0 && p < 0)
    domain_error(fn, "division by zero (0 raised to the negative power " + fmt_num(p) + ")");
  return std::pow(base, p);
}

}  // namespace

// ------------------------------------------------------------------ Impl

struct Evaluator::Impl {
  const Bindings b;  // a copy: an Evaluator may outlive the caller's bindings
  std::map<std::string, std::int64_t> dims;  // b.dims plus sizes read off symbol values
  std::unordered_map<Expr, Matrix> values;   // node-stable: references survive rehash
  std::unordered_map<Expr, std::unique_ptr<Factor>> factors;
  // Scalars whose double in `values` is not their value within rounding (0,
  // a subnormal or +-inf: a det that under- or overflows, a product or power
  // of one); products, powers, sums, logs and roots read this form.
  std::unordered_map<Expr, Wide> wide;
  std::optional<Wide> result_wide;  // set by compute() for the node it computes
  Expr failed = nullptr;  // the node whose operation threw (see failed_at)

  // Freeing after the last use: `uses` counts the reads of each value by the
  // scheduled nodes (planned or on the way to a requested root, not yet
  // computed); at zero the value and its factorization are freed, unless the
  // node is one a caller asked for (`keep`).
  std::unordered_map<Expr, std::int64_t> uses;
  std::unordered_set<Expr> scheduled;
  std::unordered_set<Expr> keep;
  std::int64_t live = 0;  // entries held by `values` and `factors`
  std::int64_t max_live = kMaxLiveEntries;
  std::size_t computed = 0;  // nodes computed (a freed one computed again counts again)
  std::vector<Expr> deps_buf;

  explicit Impl(const Bindings& bb) : b(bb), dims(bb.dims) {}

  const Matrix& value(Expr e) const { return values.at(e); }

  Wide wide_of(Expr e) const {
    if (auto it = wide.find(e); it != wide.end()) return it->second;
    return Wide::of(value(e)(0, 0));
  }
  bool is_wide(Expr e) const { return wide.count(e) > 0; }

  // Room for `entries` more live entries, or a Limit error.
  void reserve_live(std::int64_t entries) const {
    if (entries > max_live - live)
      throw Error(ErrorKind::Limit, "the evaluation needs more than " + std::to_string(max_live) +
                                        " entries of values at once (limit " + std::to_string(max_live) +
                                        " live entries, " + std::to_string(max_live * 8 >> 20) + " MiB)");
  }

  const Factor& factor(Expr a) {
    auto it = factors.find(a);
    if (it != factors.end()) return *it->second;
    const Matrix& m = value(a);
    reserve_live(m.size());
    auto f = std::make_unique<Factor>(m, a->symmetric);
    live += m.size();
    return *factors.emplace(a, std::move(f)).first->second;
  }

  void release(Expr d) {
    if (auto it = values.find(d); it != values.end()) {
      live -= it->second.size();
      values.erase(it);
    }
    if (auto it = factors.find(d); it != factors.end()) {
      live -= it->second->n * it->second->n;
      factors.erase(it);
    }
    wide.erase(d);
  }

  // Binds dimension symbols that a symbol's shape names directly (`n`, not
  // `n*k`) from its value, so callers may leave Bindings.dims empty.
  void bind_dims_from(Expr sym) {
    auto it = b.values.find(sym->name);
    if (it == b.values.end()) return;
    auto bind = [&](const Dim& d, Index size) {
      if (d.coeff() == 1 && d.factors().size() == 1) dims.emplace(d.factors()[0], size);
    };
    bind(sym->shape.rows, it->second.rows());
    bind(sym->shape.cols, it->second.cols());
  }

  // Post-order of the nodes not yet evaluated that `roots` need, by an
  // explicit stack.
  std::vector<Expr> pending_order(std::span<const Expr> roots) const {
    std::vector<Expr> order;
    struct Frame {
      Expr n;
      std::vector<Expr> deps;
      std::size_t i = 0;
    };
    std::unordered_set<Expr> seen;
    std::vector<Frame> stack;
    for (Expr root : roots) {
      if (values.count(root) || !seen.insert(root).second) continue;
      stack.push_back({root, {}, 0});
      dependencies(root, stack.back().deps);
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.i < f.deps.size()) {
          Expr k = f.deps[f.i++];
          if (values.count(k) || !seen.insert(k).second) continue;
          Frame nf{k, {}, 0};
          dependencies(k, nf.deps);
          stack.push_back(std::move(nf));  // invalidates f; not used after
        } else {
          order.push_back(f.n);
          stack.pop_back();
        }
      }
    }
    return order;
  }

  // Counts the reads of the nodes of `order` not counted yet.
  void schedule(const std::vector<Expr>& order) {
    for (Expr n : order) {
      if (!scheduled.insert(n).second) continue;
      dependencies(n, deps_buf);
      for (Expr d : deps_buf) ++uses[d];
    }
  }

  void plan(std::span<const Expr> roots) {
    keep.insert(roots.begin(), roots.end());
    schedule(pending_order(roots));
  }

  const Matrix& eval(Expr root) {
    if (auto it = values.find(root); it != values.end()) {
      keep.insert(root);
      finite_root(root);
      return it->second;
    }
    keep.insert(root);
    const Expr roots[] = {root};
    const std::vector<Expr> order = pending_order(roots);
    schedule(order);
    for (Expr n : order)
      if (n->op == Op::Symbol) bind_dims_from(n);
    failed = nullptr;
    for (Expr n : order) {
      const std::int64_t size = check_size(n);
      reserve_live(size);
      Matrix v;
      result_wide.reset();
      try {
        v = compute(n);
      } catch (const Error&) {
        if (!failed) failed = n;
        throw;
      }
      ++computed;
      if (result_wide && !result_wide->fits()) {
        wide.emplace(n, *result_wide);  // its double may be 0 or +-inf: consumers read the Wide
      } else if (!v.allFinite()) {
        if (n->op == Op::Symbol) throw Error(ErrorKind::Value, "the value of '" + n->name + "' is not finite");
        failed = n;
        domain_error(fn_name(n->op), "result is not finite (overflow or NaN)");
      }
      live += v.size();
      values.emplace(n, std::move(v));
      scheduled.erase(n);
      dependencies(n, deps_buf);
      for (Expr d : deps_buf) {
        auto it = uses.find(d);
        if (it == uses.end() || --it->second > 0) continue;
        uses.erase(it);
        if (!keep.count(d)) release(d);
      }
    }
    finite_root(root);
    return values.at(root);
  }

  // A result the caller reads must be a finite double: a scalar kept in
  // scaled form that overflows is out of range.
  void finite_root(Expr root) {
    auto it = wide.find(root);
    if (it == wide.end() || std::isfinite(it->second.to_double())) return;
    failed = root;
    domain_error(fn_name(root->op), "result is not finite (overflow: about 2^" + std::to_string(it->second.e) + ")");
  }

  Index size_of(const Dim& d) { return static_cast<Index>(dim_in(d, dims)); }

  // A node's size, where the bindings fix it, must fit kMaxEntries; an
  // unbound size is left to compute(), which reports it where it matters.
  // Returns the size (0 when unbound).
  std::int64_t check_size(Expr n) const {
    auto bound = [&](const Dim& d) {
      return std::all_of(d.factors().begin(), d.factors().end(), [&](const std::string& f) { return dims.count(f) > 0; });
    };
    if (!bound(n->shape.rows) || !bound(n->shape.cols)) return 0;
    const std::int64_t r = dim_in(n->shape.rows, dims), c = dim_in(n->shape.cols, dims);
    check_entries(r, c);
    return r * c;
  }

  Matrix compute(Expr n) {
    const std::string fn = fn_name(n->op);
    auto kid = [&](std::size_t i) -> const Matrix& { return value(n->kid(i)); };
    switch (n->op) {
      // ---------------------------------------------------------- leaves
      case Op::Const:
        return Matrix::Constant(1, 1, n->value);
      case Op::Symbol: {
        auto it = b.values.find(n->name);
        if (it == b.values.end())
          throw Error(ErrorKind::Value, "no value for symbol '" + n->name + "'");
        const Matrix& m = it->second;
        auto r = n->shape.rows.value(dims), c = n->shape.cols.value(dims);
        if ((r && *r != m.rows()) || (c && *c != m.cols()))
          throw Error(ErrorKind::Value,
                      "the value of '" + n->name + "' is " + std::to_string(m.rows()) + " x " +
                          std::to_string(m.cols()) + ", but '" + n->name + "' is " +
                          n->shape.str() + (r && c ? " = " + std::to_string(*r) + " x " + std::to_string(*c) : ""));
        return m;
      }
      case Op::Identity: {
        Index k = size_of(n->shape.rows);
        return Matrix::Identity(k, k);
      }
      case Op::Zeros:
        return Matrix::Zero(size_of(n->shape.rows), size_of(n->shape.cols));
      case Op::Ones:
        return Matrix::Ones(size_of(n->shape.rows), size_of(n->shape.cols));
      case Op::Commutation: {  // K*vec(X) = vec(X') for an m x n X: row j + n*i holds a 1 at column i + m*j
        const Index m = size_of(n->param.rows), c = size_of(n->param.cols);
        Matrix k = Matrix::Zero(m * c, m * c);
        for (Index i = 0; i < m; ++i)
          for (Index j = 0; j < c; ++j) k(j + c * i, i + m * j) = 1;
        return k;
      }

      // ------------------------------------------------------ arithmetic
      case Op::Add: {
        if (n->is_scalar() && std::any_of(n->kids.begin(), n->kids.end(), [&](Expr k) { return is_wide(k); }))
          return wide_result(wide_sum(n));
        Matrix s = kid(0);
        for (std::size_t i = 1; i < n->kids.size(); ++i) {
          same_size(fn, s, kid(i));
          s += kid(i);
        }
        return s;
      }
      case Op::Mul:
        return product(n);
      case Op::Pow: {
        // a/b is a*b^-1 in the IR: a zero divisor is reported as '/'.
        const double base = kid(0)(0, 0), p = kid(1)(0, 0);
        if (is_wide(n->kid(0))) return wide_result(checked_wide_pow(fn, wide_of(n->kid(0)), p));
        if (base == 0 && p == -1) domain_error("'/'", "division by zero");
        const double r = checked_pow(fn, base, p);
        // Out of range although the base is not (1e-200^2 * 1e300): scaled.
        if (base != 0 && std::fpclassify(r) != FP_NORMAL && std::isfinite(p))
          return wide_result(checked_wide_pow(fn, Wide::of(base), p));
        return Matrix::Constant(1, 1, r);
      }
      case Op::MatPow:
        return matrix_power(n);
      case Op::ElemMul: {
        Matrix p = kid(0);
        for (std::size_t i = 1; i < n->kids.size(); ++i) {
          same_size(fn, p, kid(i));
          p.array() *= kid(i).array();
        }
        return p;
      }
      case Op::ElemDiv: {
        const Matrix &a = kid(0), &d = kid(1);
        same_size(fn, a, d);
        for (Index i = 0; i < d.size(); ++i)
          if (d.data()[i] == 0) domain_error(fn, "division by zero");
        return (a.array() / d.array()).matrix();
      }
      case Op::ElemPow: {
        double p = kid(1)(0, 0);
        return map_entries(kid(0), [&](double x) { return checked_pow(fn, x, p); });
      }
      case Op::Transpose:
        if (is_wide(n->kid(0))) return wide_result(wide_of(n->kid(0)));
        return kid(0).transpose();

      // ------------------------------------------------ matrix functions
      case Op::Trace:
        return Matrix::Constant(1, 1, kid(0).trace());
      case Op::Det: {
        // From LU with partial pivoting (reusing the node's factorization
        // when it is one), or exactly for integer matrices: never Cholesky.
        const Factor& f = factor(n->kid(0));
        return wide_result(det_of(kid(0), f.kind == Factor::Kind::LU ? &f.lu : nullptr));
      }
      case Op::LogDet:
        return log_det(fn, n->kid(0));
      case Op::Inv: {
        auto [src, transposed] = factor_source(n);
        const Factor& f = factor(src);
        f.require_invertible(fn);
        return f.solve(Matrix::Identity(f.n, f.n), transposed);
      }
      case Op::Diag: {
        const Matrix& v = kid(0);
        Matrix d = Matrix::Zero(v.size(), v.size());
        for (Index i = 0; i < v.size(); ++i) d(i, i) = v.data()[i];
        return d;
      }
      case Op::DiagPart:
        return kid(0).diagonal();
      case Op::Sum:
        return Matrix::Constant(1, 1, kid(0).sum());
      case Op::Norm2: {
        // The plain sum of squares is exact enough only while the squares
        // neither overflow nor underflow (entries between about 1e-146 and
        // 1e146); outside that, Eigen's scaled norm.
        double v = kid(0).norm();
        if (!(v > 1e-140 && v < 1e140)) v = kid(0).stableNorm();
        return Matrix::Constant(1, 1, v);
      }
      case Op::Norm1:
        return Matrix::Constant(1, 1, kid(0).cwiseAbs().sum());
      case Op::Vec:
      case Op::Reshape: {
        const Matrix& x = kid(0);
        Index r = size_of(n->shape.rows), c = size_of(n->shape.cols);
        if (r * c != x.size())
          throw Error(ErrorKind::Shape, "reshape of " + std::to_string(x.rows()) + " x " +
                                            std::to_string(x.cols()) + " to " + std::to_string(r) +
                                            " x " + std::to_string(c));
        return Eigen::Map<const Matrix>(x.data(), r, c);  // column-major, as vec
      }
      case Op::Kron: {
        const Matrix &a = kid(0), &c = kid(1);
        Matrix k(a.rows() * c.rows(), a.cols() * c.cols());
        for (Index j = 0; j < a.cols(); ++j)
          for (Index i = 0; i < a.rows(); ++i)
            k.block(i * c.rows(), j * c.cols(), c.rows(), c.cols()) = a(i, j) * c;
        return k;
      }
      case Op::Sym: {
        const Matrix& x = kid(0);
        return 0.5 * (x + x.transpose());
      }
      case Op::LogSumExp: {
        const Matrix& x = kid(0);
        double m = x.maxCoeff();  // shift: exp never overflows, one term is 1
        return Matrix::Constant(1, 1, m + std::log((x.array() - m).exp().sum()));
      }
      case Op::Softmax: {
        const Matrix& x = kid(0);
        Matrix e = (x.array() - x.maxCoeff()).exp().matrix();
        return e / e.sum();
      }

      // ------------------------------------------ elementwise functions
      case Op::Exp: {
        // Eigen's vectorized exp clamps its argument near -708.4 (5.6e-309
        // for exp(-1000)): below that, std::exp, which underflows to the
        // right subnormal or 0.
        const Matrix& x = kid(0);
        Matrix r = x.array().exp().matrix();
        for (Index i = 0; i < x.size(); ++i)
          if (x.data()[i] < -708) r.data()[i] = std::exp(x.data()[i]);
        return r;
      }
      case Op::Log:
        if (is_log_det(n)) return log_det(fn, n->kid(0)->kid(0));
        if (is_wide(n->kid(0))) {
          const Wide w = wide_of(n->kid(0));
          if (!(w.m > 0)) domain_error(fn, "argument " + fmt_num(w.to_double()) + " is not positive");
          return Matrix::Constant(1, 1, std::log(w.m) + double(w.e) * std::numbers::ln2);
        }
        return map_entries(kid(0), [&](double x) {
          if (!(x > 0)) domain_error(fn, "argument " + fmt_num(x) + " is not positive");
          return std::log(x);
        });
      case Op::Sqrt:
        if (is_wide(n->kid(0))) return wide_result(checked_wide_pow(fn, wide_of(n->kid(0)), 0.5));
        return map_entries(kid(0), [&](double x) {
          if (x < 0) domain_error(fn, "argument " + fmt_num(x) + " is negative");
          return std::sqrt(x);
        });
      case Op::Sin: return kid(0).array().sin().matrix();
      case Op::Cos: return kid(0).array().cos().matrix();
      case Op::Tan: return map_entries(kid(0), [](double x) { return std::tan(x); });
      case Op::Tanh: return map_entries(kid(0), [](double x) { return std::tanh(x); });
      case Op::Abs:
        if (is_wide(n->kid(0))) {
          Wide w = wide_of(n->kid(0));
          w.m = std::fabs(w.m);
          return wide_result(w);
        }
        return kid(0).cwiseAbs();
      case Op::Sign:
        return map_entries(kid(0), [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); });
      case Op::Sigmoid: return map_entries(kid(0), stable_sigmoid);
      case Op::Softplus: return map_entries(kid(0), stable_softplus);
      case Op::Relu: return map_entries(kid(0), [](double x) { return std::max(x, 0.0); });
    }
    throw Error(ErrorKind::Unsupported, "cannot evaluate operator " + std::string(op_name(n->op)));
  }

  // A scalar result in scaled form: the nearest double is the value, the
  // Wide is kept beside it when that double is not the value within rounding.
  Matrix wide_result(const Wide& w) {
    result_wide = w;
    return Matrix::Constant(1, 1, w.to_double());
  }

  Wide checked_wide_pow(const std::string& fn, const Wide& w, double p) {
    if (w.m < 0 && !is_integer(p))
      domain_error(fn, "negative base " + fmt_num(w.to_double()) + " with non-integer exponent " + fmt_num(p));
    if (w.m == 0) {
      if (p < 0) domain_error(p == -1 ? "'/'" : fn, "division by zero");
      return p == 0 ? Wide::of(1) : Wide{};
    }
    return wide_pow(w, p);
  }

  // A sum of scalars, one of them scaled: aligned to the largest exponent.
  Wide wide_sum(Expr n) const {
    std::int64_t top = std::numeric_limits<std::int64_t>::min();
    for (Expr k : n->kids) {
      const Wide w = wide_of(k);
      if (w.m != 0) top = std::max(top, w.e);
    }
    if (top == std::numeric_limits<std::int64_t>::min()) return Wide{};
    double s = 0;
    for (Expr k : n->kids) {
      const Wide w = wide_of(k);
      if (w.m != 0 && w.e - top > -2000) s += std::ldexp(w.m, static_cast<int>(w.e - top));
    }
    Wide r{s, top};
    r.normalize();
    return r;
  }

  Matrix log_det(const std::string& fn, Expr x) {
    const Factor& f = factor(x);
    if (f.pivot_at_rounding_level())
      domain_error(fn,
                   "determinant is not positive (the matrix is singular: a pivot of its factorization is at the "
                   "level of rounding)");
    auto [l, sign] = f.log_abs_det();
    if (sign <= 0)
      domain_error(fn, sign == 0 ? "determinant is not positive (the matrix is singular)"
                                 : "determinant is not positive (it is negative)");
    return Matrix::Constant(1, 1, l);
  }

  // X^k by repeated squaring (k >= 2 in normal form; other k handled too).
  Matrix matrix_power(Expr n) {
    const Matrix& x = value(n->kid(0));
    long long k = n->power;
    Matrix base;
    if (k < 0) {  // not produced by the builders (they use inv), kept total
      const Factor& f = factor(n->kid(0));
      f.require_invertible(fn_name(n->op));
      base = f.solve(Matrix::Identity(f.n, f.n), false);
      k = -k;
    } else {
      base = x;
    }
    Matrix result = Matrix::Identity(x.rows(), x.cols());
    bool have = false;
    while (k > 0) {
      if (k & 1) {
        result = have ? Matrix(result * base) : base;
        have = true;
      }
      k >>= 1;
      if (k > 0) base = base * base;
    }
    return result;
  }

  // A structured factor of a chain (is_chain_structured), applied to what it
  // multiplies without being formed.
  struct Structured {
    enum class Kind { Dense, Identity, Commutation, Diag, Kron } kind = Kind::Dense;
    const Matrix* m = nullptr;               // Dense: the value; Diag: the vector
    Index rows = 0, cols = 0;                // untransposed
    Index pm = 0, pn = 0;                    // Commutation: K_{pm,pn}
    std::shared_ptr<const Structured> a, b;  // Kron: kron(a, b)
  };

  std::shared_ptr<const Structured> structured(Expr k) {
    auto s = std::make_shared<Structured>();
    s->rows = size_of(k->shape.rows);
    s->cols = size_of(k->shape.cols);
    if (!is_chain_structured(k)) {
      s->m = &value(k);
    } else if (k->op == Op::Commutation) {
      s->kind = Structured::Kind::Commutation;
      s->pm = size_of(k->param.rows);
      s->pn = size_of(k->param.cols);
    } else if (k->op == Op::Identity) {
      s->kind = Structured::Kind::Identity;
    } else if (k->op == Op::Diag) {
      s->kind = Structured::Kind::Diag;
      s->m = &value(k->kid(0));
    } else {
      s->kind = Structured::Kind::Kron;
      s->a = structured(k->kid(0));
      s->b = structured(k->kid(1));
    }
    return s;
  }

  // op(f)*x, op the transpose when `t`.
  static Matrix apply(const Structured& f, bool t, const Matrix& x) {
    using K = Structured::Kind;
    switch (f.kind) {
      case K::Dense: {
        Matrix r;
        if (t)
          r.noalias() = f.m->transpose() * x;
        else
          r.noalias() = *f.m * x;
        return r;
      }
      case K::Identity: return x;
      case K::Diag: return f.m->col(0).asDiagonal() * x;
      case K::Commutation: {  // K_{m,n}: row j + n*i is row i + m*j of x; K' = K_{n,m}
        const Index m = t ? f.pn : f.pm, n = t ? f.pm : f.pn;
        Matrix r(x.rows(), x.cols());
        for (Index i = 0; i < m; ++i)
          for (Index j = 0; j < n; ++j) r.row(j + n * i) = x.row(i + m * j);
        return r;
      }
      case K::Kron: {  // kron(A, B)*vec(V) = vec(B*V*A') per column; kron(A, B)' = kron(A', B')
        const Index p = t ? f.a->cols : f.a->rows, q = t ? f.a->rows : f.a->cols;
        const Index m = t ? f.b->cols : f.b->rows, n = t ? f.b->rows : f.b->cols;
        Matrix r(p * m, x.cols());
        for (Index c = 0; c < x.cols(); ++c) {
          const Matrix v = Eigen::Map<const Matrix>(x.col(c).data(), n, q);
          const Matrix bv = apply(*f.b, t, v);                          // m x q
          const Matrix w = apply(*f.a, t, bv.transpose()).transpose();  // m x p
          r.col(c) = Eigen::Map<const Eigen::VectorXd>(w.data(), p * m);
        }
        return r;
      }
    }
    throw std::logic_error("apply: unknown structured factor");
  }

  // One factor of a chain: a value, an inverse left unformed, or a structured factor.
  struct Piece {
    const Matrix* ref = nullptr;    // a cached node value
    Matrix own;                     // an intermediate result
    const Factor* inv = nullptr;    // lazy inv(A) (or inv(A') when inv_t)
    bool inv_t = false;
    std::shared_ptr<const Structured> applied;  // applied, never formed
    Index rows = 0, cols = 0;
    const Matrix& mat() const { return ref ? *ref : own; }
  };

  static Matrix materialize(const Piece& p) {
    if (p.applied) return apply(*p.applied, false, Matrix::Identity(p.cols, p.cols));
    if (!p.inv) return p.mat();
    return p.inv->solve(Matrix::Identity(p.inv->n, p.inv->n), p.inv_t);
  }

  static Piece combine(const Piece& l, const Piece& r) {
    Piece out;
    out.rows = l.rows;
    out.cols = r.cols;
    check_entries(out.rows, out.cols);
    if (l.applied) {
      out.own = apply(*l.applied, false, r.inv || r.applied ? materialize(r) : r.mat());
    } else if (r.applied) {  // L*S = (S'*L')'
      out.own =
          apply(*r.applied, true, l.inv ? Matrix(materialize(l).transpose()) : Matrix(l.mat().transpose())).transpose();
    } else if (l.inv) {
      // inv(A)*B: a solve with A. Two adjacent inverses: the right one is
      // formed by a solve against the identity, the left applied by a solve.
      if (r.inv)
        out.own = l.inv->solve(materialize(r), l.inv_t);
      else
        out.own = l.inv->solve(r.mat(), l.inv_t);
    } else if (r.inv) {
      // B*inv(A) = (inv(A')*B')': a transposed solve, transposed back.
      out.own = r.inv->solve(l.mat().transpose(), !r.inv_t).transpose();
    } else {
      out.own.noalias() = l.mat() * r.mat();
    }
    return out;
  }

  Matrix product(Expr n) {
    Wide coef = Wide::of(1);  // scaled: det(X)*inv(X)' at X = 1e-200*I
    std::vector<Piece> chain;
    for (Expr k : n->kids) {
      if (is_chain_inv(k)) {
        auto [src, transposed] = factor_source(k);
        const Factor& f = factor(src);
        failed = k;  // the inverse that this product solves with
        f.require_invertible("inv");
        failed = nullptr;
        Piece p;
        p.inv = &f;
        p.inv_t = transposed;
        p.rows = p.cols = f.n;
        chain.push_back(std::move(p));
      } else if (is_chain_structured(k)) {
        Piece p;
        p.applied = structured(k);
        p.rows = p.applied->rows;
        p.cols = p.applied->cols;
        chain.push_back(std::move(p));
      } else if (k->is_scalar()) {
        coef *= wide_of(k);
      } else {
        Piece p;
        p.ref = &value(k);
        p.rows = p.ref->rows();
        p.cols = p.ref->cols();
        chain.push_back(std::move(p));
      }
    }
    for (std::size_t i = 1; i < chain.size(); ++i)
      if (chain[i - 1].cols != chain[i].rows)
        throw Error(ErrorKind::Shape, "'*': sizes " + std::to_string(chain[i - 1].cols) +
                                          " and " + std::to_string(chain[i].rows) + " do not match");
    if (chain.empty()) return wide_result(coef);
    // Factors of extreme magnitude are multiplied scaled by a power of two
    // (exactly), the powers joining the coefficient: C*T^2*inv(T^2) at
    // 1e-150 scale has C*T^2 ~ 1e-450 on the way, which would underflow.
    std::vector<Matrix> rescaled;
    rescaled.reserve(chain.size());  // pieces point into it
    if (chain.size() > 1)
      for (Piece& p : chain) {
        if (!p.ref || p.ref->size() == 0) continue;
        const double top = p.ref->cwiseAbs().maxCoeff();
        if (!(top > 0) || !std::isfinite(top) || (top > 0x1p-250 && top < 0x1p250)) continue;
        int e = 0;
        std::frexp(top, &e);
        rescaled.push_back(p.ref->unaryExpr([e](double v) { return std::ldexp(v, -e); }));
        p.ref = &rescaled.back();
        coef *= Wide{0.5, e + 1};  // 2^e
      }
    Matrix r = chain.size() == 1 ? materialize(chain[0]) : multiply_chain(chain).own;
    if (coef.fits()) {
      const double c = coef.to_double();
      if (c != 1) r *= c;
    } else {
      for (Index i = 0; i < r.size(); ++i) r.data()[i] = scaled(r.data()[i], coef);
    }
    return r;
  }

  // The chain product in the cheapest order (flop count of products and
  // solves; a lazy inverse against a lazy inverse also pays for forming one).
  Piece multiply_chain(std::vector<Piece>& c) {
    const std::size_t m = c.size();
    if (m > kMaxDpChain) {
      // Greedy: right-to-left when the chain ends in a vector, else left-to-right.
      if (c.back().cols == 1) {
        Piece acc = combine(c[m - 2], c[m - 1]);
        for (std::size_t i = m - 2; i-- > 0;) acc = combine(c[i], acc);
        return acc;
      }
      Piece acc = combine(c[0], c[1]);
      for (std::size_t i = 2; i < m; ++i) acc = combine(acc, c[i]);
      return acc;
    }
    std::vector<double> cost(m * m, 0.0);
    std::vector<std::size_t> split(m * m, 0);
    auto at = [m](std::size_t i, std::size_t j) { return i * m + j; };
    for (std::size_t len = 2; len <= m; ++len) {
      for (std::size_t i = 0; i + len <= m; ++i) {
        std::size_t j = i + len - 1;
        double best = std::numeric_limits<double>::infinity();
        for (std::size_t s = i; s < j; ++s) {
          double q = cost[at(i, s)] + cost[at(s + 1, j)] +
                     double(c[i].rows) * double(c[s].cols) * double(c[j].cols);
          if (s == i && s + 1 == j && c[i].inv && c[j].inv)
            q += double(c[j].rows) * double(c[j].rows) * double(c[j].cols);
          if (q < best) {
            best = q;
            split[at(i, j)] = s;
          }
        }
        cost[at(i, j)] = best;
      }
    }
    return build(c, split, 0, m - 1);
  }

  // Recursion depth <= chain length <= kMaxDpChain.
  Piece build(std::vector<Piece>& c, const std::vector<std::size_t>& split, std::size_t i,
              std::size_t j) {
    if (i == j) {
      Piece p;
      p.ref = c[i].ref;
      p.inv = c[i].inv;
      p.inv_t = c[i].inv_t;
      p.applied = c[i].applied;
      p.rows = c[i].rows;
      p.cols = c[i].cols;
      return p;
    }
    std::size_t s = split[i * c.size() + j];
    return combine(build(c, split, i, s), build(c, split, s + 1, j));
  }
};

// ------------------------------------------------------------------ API

Evaluator::Evaluator(const Bindings& b) : impl_(new Impl(b)) {}
Evaluator::~Evaluator() { delete impl_; }
const Matrix& Evaluator::eval(Expr e) { return impl_->eval(e); }
void Evaluator::plan(std::span<const Expr> roots) { impl_->plan(roots); }
void Evaluator::limit_live_entries(std::int64_t entries) { impl_->max_live = entries; }
std::size_t Evaluator::computed() const { return impl_->computed; }
Expr Evaluator::failed_at() const { return impl_->failed; }

Matrix evaluate(Expr e, const Bindings& b) {
  Evaluator ev(b);
  return ev.eval(e);
}

std::vector<Matrix> evaluate(std::span<const Expr> roots, const Bindings& b) {
  Evaluator ev(b);
  ev.plan(roots);  // shared work stays until the last root that reads it
  std::vector<Matrix> out;
  out.reserve(roots.size());
  for (Expr r : roots) out.push_back(ev.eval(r));
  return out;
}

std::int64_t dim_value(const Dim& d, const Bindings& b) { return dim_in(d, b.dims); }

}  // namespace matcalc
