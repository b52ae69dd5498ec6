// Gradient checking (see check.hpp). Guarantees:
//   - random_inputs is deterministic in (roots, symbols, opts, rng state) and
//     returns only inputs at which every root evaluates without a Domain
//     error; it gives each free dimension symbol a different size where it
//     can, so that a transposed or mis-shaped gradient cannot pass by luck;
//   - finite_difference_gradient uses central differences with a step
//     proportional to cbrt(eps), the step that balances truncation (O(h^2))
//     against rounding (O(eps/h)) error;
//   - for a symmetric variable it follows LANGUAGE.md's convention: the
//     result is sym(G), G the gradient with all entries independent.
#include "eval/check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <unordered_set>

#include "ir/error.hpp"

namespace matcalc {

namespace {

using Index = Eigen::Index;

// How a symbol's value is drawn.
struct Hint {
  bool spd = false;       // symmetric positive definite
  bool positive = false;  // every entry positive
};

// What a node that must be SPD, or entrywise positive, asks of its
// arguments for that to hold (the propagation of domain_hints below).
enum class Down : std::uint8_t {
  Nothing,           // no requirement passed down (the conservative default)
  KidsSpd,           // every argument SPD: sums, Kronecker products of SPD matrices
  KidsPositive,      // every argument positive: sums, products, quotients
  FirstSpd,          // the first argument SPD
  FirstPositive,     // the first argument positive
  CongruenceMiddle,  // a product: scalars positive, the middle of an odd chain SPD (c*A, B'*A*B)
  SymbolHint,        // a symbol: draw it so
};

// The operators that pass a requirement down, as data; an operator not
// listed passes nothing down, which is always safe: the draws are retried,
// and the later ones are SPD and positive everywhere.
struct Propagation {
  Op op;
  Down spd;       // when the node must be SPD
  Down positive;  // when the node must be entrywise positive
};
constexpr Propagation kPropagation[] = {
    {Op::Symbol, Down::SymbolHint, Down::SymbolHint},
    {Op::Add, Down::KidsSpd, Down::KidsPositive},
    {Op::Mul, Down::CongruenceMiddle, Down::KidsPositive},
    {Op::Kron, Down::KidsSpd, Down::KidsPositive},
    {Op::ElemMul, Down::Nothing, Down::KidsPositive},
    {Op::ElemDiv, Down::Nothing, Down::KidsPositive},
    {Op::Transpose, Down::FirstSpd, Down::FirstPositive},
    {Op::Sym, Down::FirstSpd, Down::FirstPositive},
    {Op::Inv, Down::FirstSpd, Down::FirstSpd},
    {Op::MatPow, Down::FirstSpd, Down::Nothing},
    {Op::Diag, Down::FirstPositive, Down::FirstPositive},
    {Op::Det, Down::Nothing, Down::FirstSpd},
    {Op::Sum, Down::Nothing, Down::FirstPositive},
    {Op::Trace, Down::Nothing, Down::FirstPositive},
    {Op::DiagPart, Down::Nothing, Down::FirstPositive},
    {Op::Vec, Down::Nothing, Down::FirstPositive},
    {Op::Reshape, Down::Nothing, Down::FirstPositive},
    {Op::Pow, Down::Nothing, Down::FirstPositive},
    {Op::ElemPow, Down::Nothing, Down::FirstPositive},
    {Op::Norm1, Down::Nothing, Down::FirstPositive},
};

Propagation propagation(Op op) {
  for (const Propagation& p : kPropagation)
    if (p.op == op) return p;
  return {op, Down::Nothing, Down::Nothing};
}

// Walks the roots top-down (every parent before its children) marking the
// nodes that must be SPD or entrywise positive for the functions above them
// to be defined (each operator's OpDomain, from ops.def); the marks on Symbol
// nodes are the hints.
std::map<std::string, Hint> domain_hints(std::span<const Expr> roots) {
  std::vector<Expr> order = topo_order(roots);
  std::reverse(order.begin(), order.end());
  std::unordered_set<Expr> spd, pos;
  std::map<std::string, Hint> hints;
  auto needs_positive_base = [](Expr exponent) {
    // A non-integer (or unknown) exponent needs a positive base; a negative
    // one a non-zero base, which a continuous draw gives almost surely.
    return exponent->op != Op::Const || exponent->value != std::round(exponent->value);
  };
  auto pass_down = [&](Down d, Expr n, bool as_spd) {
    switch (d) {
      case Down::Nothing: break;
      case Down::KidsSpd:
        for (Expr k : n->kids) spd.insert(k);
        break;
      case Down::KidsPositive:
        for (Expr k : n->kids) pos.insert(k);
        break;
      case Down::FirstSpd: spd.insert(n->kid(0)); break;
      case Down::FirstPositive: pos.insert(n->kid(0)); break;
      case Down::CongruenceMiddle: {
        std::vector<Expr> chain;
        for (Expr k : n->kids) {
          if (k->is_scalar())
            pos.insert(k);
          else
            chain.push_back(k);
        }
        // c*A, and the middle of a congruence B'*A*B, are SPD when A is.
        if (chain.size() % 2 == 1) spd.insert(chain[chain.size() / 2]);
        break;
      }
      case Down::SymbolHint: (as_spd ? hints[n->name].spd : hints[n->name].positive) = true; break;
    }
  };
  for (Expr n : order) {
    switch (op_domain(n->op)) {
      case OpDomain::Any: break;
      case OpDomain::PositiveArg: pos.insert(n->kid(0)); break;
      case OpDomain::SpdArg: spd.insert(n->kid(0)); break;
      case OpDomain::PositiveBase:
        if (needs_positive_base(n->kid(1))) pos.insert(n->kid(0));
        break;
      case OpDomain::PositiveDivisor: pos.insert(n->kid(1)); break;
    }
    const Propagation p = propagation(n->op);
    if (spd.count(n)) pass_down(p.spd, n, true);
    if (pos.count(n)) pass_down(p.positive, n, false);
  }
  return hints;
}

Matrix draw_normal(Index r, Index c, std::mt19937_64& rng) {
  std::normal_distribution<double> nd(0.0, 1.0);
  Matrix m(r, c);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = nd(rng);
  return m;
}

Matrix draw_positive(Index r, Index c, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> ud(0.5, 2.0);
  Matrix m(r, c);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = ud(rng);
  return m;
}

// G*G'/n + I: eigenvalues in [1, ~4] for a normal G, well conditioned.
Matrix draw_spd(Index n, bool positive_entries, std::mt19937_64& rng) {
  Matrix g = positive_entries ? draw_positive(n, n, rng) : draw_normal(n, n, rng);
  Matrix a = g * g.transpose() / double(n) + Matrix::Identity(n, n);
  return (0.5 * (a + a.transpose())).eval();  // exactly symmetric
}

// For a matrix that is not declared symmetric but must be invertible with a
// positive determinant: an SPD matrix plus a non-symmetric part whose
// symmetric part keeps it positive definite, so every eigenvalue has a
// positive real part (det > 0). Not symmetric on purpose: a gradient that
// confuses A and A' must not pass the check by luck.
Matrix draw_pd_nonsymmetric(Index n, bool positive_entries, std::mt19937_64& rng) {
  Matrix a = draw_spd(n, positive_entries, rng);
  // Small positive entries in [1/16, 1/4]: the symmetric part stays PD.
  if (positive_entries) return a + 0.125 * draw_positive(n, n, rng);
  Matrix h = draw_normal(n, n, rng);
  return a + 0.5 * (h - h.transpose());  // a skew part leaves x'*A*x unchanged
}

void collect_dims(const Shape& s, std::set<std::string>& out) {
  for (const auto& f : s.rows.factors()) out.insert(f);
  for (const auto& f : s.cols.factors()) out.insert(f);
}

std::string root_description(std::span<const Expr> roots) {
  return roots.size() == 1 ? "the expression" : "the expression and its gradients";
}

}  // namespace

Bindings random_inputs(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols,
                       const CheckOptions& opts, std::mt19937_64& rng) {
  Bindings b;

  // Dimension sizes: fixed ones from opts, the others distinct in [2,5]
  // where possible, avoiding the fixed ones.
  std::set<std::string> dim_names;
  for (const auto& [name, sym] : symbols) collect_dims(sym->shape, dim_names);
  for (Expr n : topo_order(roots)) collect_dims(n->shape, dim_names);
  std::vector<std::int64_t> pool;
  for (std::int64_t v = 2; v <= 5; ++v) {
    bool taken = false;
    for (const auto& [d, size] : opts.dims) taken = taken || (dim_names.count(d) && size == v);
    if (!taken) pool.push_back(v);
  }
  std::shuffle(pool.begin(), pool.end(), rng);
  std::size_t next = 0;
  for (const auto& d : dim_names) {
    if (auto it = opts.dims.find(d); it != opts.dims.end()) {
      if (it->second < 1)
        throw Error(ErrorKind::Usage, "dimension " + d + " must be positive, got " + std::to_string(it->second));
      b.dims[d] = it->second;
    } else if (next < pool.size()) {
      b.dims[d] = pool[next++];
    } else {
      b.dims[d] = std::uniform_int_distribution<std::int64_t>(2, 5)(rng);
    }
  }
  for (const auto& [d, size] : opts.dims) b.dims.emplace(d, size);

  const std::map<std::string, Hint> hints = domain_hints(roots);
  const int attempts = std::max(1, opts.attempts);
  // The first draws follow the hints; after that every square matrix is
  // positive definite (SPD when declared symmetric) and every entry positive, at shrinking scales (for domains such as
  // log(1 - x'*x) that need small values).
  const int hinted = std::min(5, (attempts + 1) / 2);
  std::string last_error;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const bool fallback = attempt >= hinted;
    const double scale = fallback ? std::pow(0.5, (attempt - hinted) % 4) : 1.0;
    b.values.clear();
    for (const auto& [name, sym] : symbols) {
      Index r = static_cast<Index>(dim_value(sym->shape.rows, b));
      Index c = static_cast<Index>(dim_value(sym->shape.cols, b));
      Hint h;
      if (auto it = hints.find(name); it != hints.end()) h = it->second;
      // (Scalars count as symmetric in the IR; they stay free to be negative.)
      if (sym->symmetric && !sym->is_scalar()) h.spd = true;
      if (fallback) {
        h.spd = h.spd || (r == c && r > 1);
        h.positive = true;
      }
      Matrix v;
      if (h.spd && r == c && r > 1) {
        v = sym->symmetric ? draw_spd(r, h.positive, rng) : draw_pd_nonsymmetric(r, h.positive, rng);
        if (fallback) v = scale * v;
      } else if (h.positive || h.spd) {  // a 1x1 "SPD" is a positive number
        v = scale * draw_positive(r, c, rng);
      } else {
        v = draw_normal(r, c, rng);
      }
      b.values[name] = std::move(v);
    }
    try {
      Evaluator ev(b);
      for (Expr r : roots) ev.eval(r);
      return b;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Domain) throw;
      last_error = e.what();
    }
  }
  throw Error(ErrorKind::Domain, "could not draw inputs in the domain of " + root_description(roots) +
                                     " after " + std::to_string(attempts) +
                                     " attempts (last: " + last_error + ")");
}

Matrix finite_difference_gradient(Expr f, Expr x, const Bindings& b) {
  if (!f->is_scalar())
    throw Error(ErrorKind::Shape, "finite differences need a scalar function, got " + f->shape.str());
  if (x->op != Op::Symbol)
    throw Error(ErrorKind::Usage, "finite differences are taken with respect to a symbol");
  Bindings work = b;
  auto it = work.values.find(x->name);
  if (it == work.values.end()) throw Error(ErrorKind::Value, "no value for symbol '" + x->name + "'");
  Matrix& xv = it->second;
  const Matrix x0 = xv;
  const bool sym = x->symmetric && x0.rows() == x0.cols() && x0.rows() > 1;
  // Optimal central-difference step for O(1) scales: cbrt(eps) ~ 6e-6.
  static const double kStep = std::cbrt(std::numeric_limits<double>::epsilon());

  auto f_at = [&] { return evaluate(f, work)(0, 0); };
  Matrix g(x0.rows(), x0.cols());
  for (Index j = 0; j < x0.cols(); ++j) {
    for (Index i = 0; i < x0.rows(); ++i) {
      if (sym && i < j) continue;  // mirrored below
      const double xi = x0(i, j);
      // Make the step exactly representable so (x+h)-(x-h) is exactly 2h.
      volatile double up = xi + kStep * std::max(1.0, std::fabs(xi));
      const double h = up - xi;
      auto set = [&](double v) {
        xv(i, j) = v;
        if (sym) xv(j, i) = v;  // symmetric: (i,j) and (j,i) move together
      };
      set(xi + h);
      double fp = f_at();
      set(xi - h);
      double fm = f_at();
      set(xi);
      double d = (fp - fm) / (2 * h);
      if (sym && i != j) {
        // Moving both entries gives G(i,j) + G(j,i) = 2*sym(G)(i,j).
        g(i, j) = g(j, i) = d / 2;
      } else {
        g(i, j) = d;
      }
    }
  }
  return g;
}

CheckReport check_gradients(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
                            const std::map<std::string, Expr>& symbols, const CheckOptions& opts) {
  if (wrt.size() != grads.size())
    throw Error(ErrorKind::Usage, "check_gradients: " + std::to_string(wrt.size()) + " variables but " +
                                      std::to_string(grads.size()) + " gradients");
  std::mt19937_64 rng(opts.seed);
  std::vector<Expr> roots{f};
  roots.insert(roots.end(), grads.begin(), grads.end());

  CheckReport report;
  report.inputs = random_inputs(roots, symbols, opts, rng);
  for (Expr x : wrt) {
    auto it = report.inputs.values.find(x->name);
    if (it != report.inputs.values.end() && it->second.size() > kMaxCheckedEntries)
      throw Error(ErrorKind::Limit, "'" + x->name + "' has " + std::to_string(it->second.size()) +
                                        " entries; finite differences evaluate the function twice per entry (limit " +
                                        std::to_string(kMaxCheckedEntries) + " entries): give smaller --dims");
  }
  Evaluator ev(report.inputs);
  // A gradient that is (near) zero has no meaningful relative error: an
  // absolute error at the level of finite-difference noise, which grows with
  // |f|, passes.
  const double abs_floor = 1e-9 * std::max(1.0, std::fabs(ev.eval(f)(0, 0)));
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    const Matrix& g = ev.eval(grads[k]);
    Matrix gfd = finite_difference_gradient(f, wrt[k], report.inputs);
    CheckResult r;
    r.variable = wrt[k]->name;
    if (g.rows() != gfd.rows() || g.cols() != gfd.cols()) {
      r.relative_error = r.abs_error = std::numeric_limits<double>::infinity();
    } else {
      r.abs_error = (g - gfd).norm();
      r.relative_error = r.abs_error / std::max({gfd.norm(), g.norm(), 1e-8});
    }
    r.ok = r.relative_error <= opts.tolerance || r.abs_error < abs_floor;
    report.ok = report.ok && r.ok;
    report.results.push_back(std::move(r));
  }
  return report;
}

}  // namespace matcalc
