// Gradient checking (see check.hpp). Guarantees:
//   - random_inputs is deterministic in (roots, symbols, opts, rng state) and
//     returns only inputs at which every root evaluates without a Domain
//     error; it gives each free dimension symbol a different size where it
//     can, so that a transposed or mis-shaped gradient cannot pass by luck,
//     and sizes under which every matrix that must be invertible can be;
//   - finite_difference_gradient uses central differences with a step
//     proportional to cbrt(eps), the step that balances truncation (O(h^2))
//     against rounding (O(eps/h)) error;
//   - for a symmetric variable it follows LANGUAGE.md's convention: the
//     result is sym(G), G the gradient with all entries independent;
//   - check_gradients refuses, before evaluating anything, a check whose
//     estimated work is past kMaxCheckFlops; it judges the error against a
//     noise floor measured at the inputs (the spread of f and G when the
//     inputs move by a few ulps, and the difference between two steps), never
//     against the size of f alone: a wrong gradient fails at any |f|.
#include "eval/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
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

// ------------------------------------------------------------ sizes

// `big` >= `small` is needed for some matrix to be invertible.
struct RankNeed {
  Dim big, small;
};

// The rank of a product is at most the least dimension of its factors: an
// n x n product that must be invertible (the argument of inv, det, logdet)
// needs every factor's rows and columns to be at least n. inv(A*A') with A
// n x k is singular for k < n, whatever A is.
std::vector<RankNeed> rank_needs(std::span<const Expr> roots) {
  std::vector<RankNeed> out;
  for (Expr n : topo_order(roots)) {
    if (op_domain(n->op) != OpDomain::SpdArg) continue;
    Expr a = n->kid(0);
    while (a->op == Op::Transpose || a->op == Op::Sym) a = a->kid(0);
    if (a->op != Op::Mul) continue;
    for (Expr k : a->kids) {
      if (k->is_scalar()) continue;
      for (const Dim& d : {k->shape.rows, k->shape.cols})
        if (d != a->shape.rows) out.push_back({d, a->shape.rows});
    }
  }
  return out;
}

std::optional<std::string> single_symbol(const Dim& d) {
  if (d.coeff() != 1 || d.factors().size() != 1) return std::nullopt;
  return d.factors()[0];
}

struct ChosenDims {
  std::map<std::string, std::int64_t> dims;
  std::string note;  // why an invertible matrix cannot be drawn at these sizes ("" when it can)
};

ChosenDims choose(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols, const CheckOptions& opts,
                  std::mt19937_64& rng) {
  ChosenDims out;
  std::map<std::string, std::int64_t>& dims = out.dims;
  // Fixed sizes from opts, the others distinct in [2,5] where possible,
  // avoiding the fixed ones.
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
      dims[d] = it->second;
    } else if (next < pool.size()) {
      dims[d] = pool[next++];
    } else {
      dims[d] = std::uniform_int_distribution<std::int64_t>(2, 5)(rng);
    }
  }
  for (const auto& [d, size] : opts.dims) dims.emplace(d, size);

  // Rank needs: raise (or swap) free sizes until every one holds; sizes the
  // caller fixed stay.
  const std::vector<RankNeed> needs = rank_needs(roots);
  auto free_symbol = [&](const Dim& d) -> std::optional<std::string> {
    auto s = single_symbol(d);
    if (!s || opts.dims.count(*s) || !dims.count(*s)) return std::nullopt;
    return s;
  };
  for (int pass = 0; pass < 16; ++pass) {
    bool changed = false;
    for (const RankNeed& need : needs) {
      const std::int64_t big = need.big.value(dims).value_or(1), small = need.small.value(dims).value_or(1);
      if (big >= small) continue;
      if (auto b = free_symbol(need.big)) {
        if (auto s = free_symbol(need.small))
          std::swap(dims[*b], dims[*s]);  // keeps the sizes distinct
        else
          dims[*b] = small + 1;  // distinct from the other size where it can be
        changed = true;
      } else if (auto s = free_symbol(need.small); s && !need.big.is_literal() && big >= 2) {
        dims[*s] = big;  // under a size the caller fixed
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (const RankNeed& need : needs) {
    const std::int64_t big = need.big.value(dims).value_or(1), small = need.small.value(dims).value_or(1);
    if (big < small) {
      const std::string n = need.small.str(), k = need.big.str();
      out.note = fmt::format(
          "; note: a product that must be invertible is {} x {} with {} = {}, but one of its factors "
          "has a dimension {}, so it is singular at every input{}",
          n, n, n, small, need.big.is_literal() ? k : fmt::format("{} = {}", k, big),
          need.big.is_literal() ? "" : fmt::format(" (give --dims with {} >= {})", k, n));
      break;
    }
  }
  return out;
}

// ------------------------------------------------------------ draws

Bindings draw(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols, const ChosenDims& chosen,
              int attempts, std::mt19937_64& rng) {
  Bindings b;
  b.dims = chosen.dims;
  const std::map<std::string, Hint> hints = domain_hints(roots);
  attempts = std::max(1, attempts);
  // The first draws follow the hints; after that every square matrix is
  // positive definite (SPD when declared symmetric) and every entry
  // positive, at shrinking scales (for domains such as log(1 - x'*x) that
  // need small values).
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
      ev.plan(roots);  // shared work evaluated once, whatever is freed
      for (Expr r : roots) ev.eval(r);
      return b;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Domain) throw;
      last_error = e.what();
    }
  }
  throw Error(ErrorKind::Domain, "could not draw inputs in the domain of " + root_description(roots) + " after " +
                                     std::to_string(attempts) + " attempt" + (attempts == 1 ? "" : "s") +
                                     " (last: " + last_error + ")" + chosen.note);
}

// ------------------------------------------------------------ work

constexpr double kNodeOverhead = 1000;  // allocation and dispatch of one node, in flops
constexpr int kNoiseSamples = 4;
constexpr double kTranscendental =
    20;  // one exp, log, tanh, ... in flops        // perturbed evaluations that measure the rounding noise

// Entries finite differences move in x: n(n+1)/2 for a symmetric matrix.
double free_entries(Expr x, const std::map<std::string, std::int64_t>& dims) {
  const double r = static_cast<double>(x->shape.rows.value(dims).value_or(1));
  const double c = static_cast<double>(x->shape.cols.value(dims).value_or(1));
  return x->symmetric && r == c && r > 1 ? r * (r + 1) / 2 : r * c;
}

// The cheapest order of a matrix chain with these dimensions (d[0] x d[1],
// d[1] x d[2], ...), in multiply-adds: the textbook dynamic program.
double chain_flops(const std::vector<double>& d) {
  if (d.size() < 3) return 0;  // no product, or one factor
  const std::size_t n = d.size() - 1;
  std::vector<std::vector<double>> m(n, std::vector<double>(n, 0));
  for (std::size_t len = 1; len < n; ++len)
    for (std::size_t i = 0; i + len < n; ++i) {
      const std::size_t j = i + len;
      m[i][j] = std::numeric_limits<double>::infinity();
      for (std::size_t k = i; k < j; ++k)
        m[i][j] = std::min(m[i][j], m[i][k] + m[k + 1][j] + d[i] * d[k + 1] * d[j + 1]);
    }
  return m[0][n - 1];
}

std::string sizes_text(const std::map<std::string, std::int64_t>& dims) {
  std::string out;
  for (const auto& [d, v] : dims) out += (out.empty() ? "" : ",") + d + "=" + std::to_string(v);
  return out;
}

struct Work {
  double total = 0;        // flops
  double evaluations = 0;  // of f
  double per_f = 0;        // flops of one evaluation of f
};

Work work_of(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
             const std::map<std::string, std::int64_t>& dims) {
  std::vector<Expr> roots{f};
  roots.insert(roots.end(), grads.begin(), grads.end());
  Work w;
  w.per_f = evaluation_flops(std::span<const Expr>(&f, 1), dims);
  const double all = evaluation_flops(roots, dims);
  // One draw, the evaluation at the inputs, the noise samples: f and the
  // gradients together; then finite differences, two evaluations per free
  // entry at each of (at most) two steps.
  double fd = 0;
  for (Expr x : wrt) fd += 4 * free_entries(x, dims);
  w.evaluations = 2 + kNoiseSamples + fd;
  w.total = (2 + kNoiseSamples) * all + fd * w.per_f;
  return w;
}

// Sizes the caller gave, scaled down together until the work (`work`, in
// flops at given sizes) fits; "" when the caller gave none or no scaling fits.
template <class WorkAt>
std::string smaller_dims(WorkAt work, const std::map<std::string, std::int64_t>& dims,
                         const std::map<std::string, std::int64_t>& given) {
  auto scaled = [&](double s) {
    std::map<std::string, std::int64_t> d = dims, shown;
    for (const auto& [name, v] : given)
      if (d.count(name)) d[name] = shown[name] = std::max<std::int64_t>(1, static_cast<std::int64_t>(s * double(v)));
    return std::pair{d, shown};
  };
  auto fits = [&](double s) { return work(scaled(s).first) <= kMaxCheckFlops; };
  if (scaled(1).second.empty() || !fits(0)) return "";
  double lo = 0, hi = 1;
  for (int i = 0; i < 40; ++i) {
    const double mid = (lo + hi) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return sizes_text(scaled(lo).second);
}

// ------------------------------------------------------------ noise

constexpr double kEps = std::numeric_limits<double>::epsilon();
// A measured noise is a sample: a floor is this many times it.
constexpr double kNoiseSafety = 3;

// The rounding noise of f and of each gradient at b: how far their computed
// values move when every input moves by one unit in the last place (the
// condition of the computation, measured), and at least the rounding of the
// result. A perturbation that leaves the domain is skipped.
struct Noise {
  double f = 0;
  std::vector<double> grads;
};

// Every input moved by one unit in the last place, up or down at random
// (symmetric ones kept symmetric).
Bindings ulp_perturbed(const Bindings& b, const std::map<std::string, Expr>& symbols, std::mt19937_64& rng) {
  std::bernoulli_distribution up(0.5);
  auto ulp_step = [&](double v) {
    return std::nextafter(v,
                          up(rng) ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity());
  };
  Bindings p = b;
  for (auto& [name, v] : p.values) {
    auto it = symbols.find(name);
    const bool sym = it != symbols.end() && it->second->symmetric && v.rows() == v.cols();
    for (Index j = 0; j < v.cols(); ++j)
      for (Index i = sym ? j : 0; i < v.rows(); ++i) {
        v(i, j) = ulp_step(v(i, j));
        if (sym) v(j, i) = v(i, j);
      }
  }
  return p;
}

Noise rounding_noise(Expr f, const std::vector<Expr>& grads, const std::map<std::string, Expr>& symbols,
                     const Bindings& b, double f0, const std::vector<Matrix>& g0, std::uint64_t seed) {
  constexpr double kUnitRoundoff = kEps / 2;  // the rounding of the result itself
  Noise out;
  out.f = kUnitRoundoff * std::fabs(f0);
  for (const Matrix& g : g0) out.grads.push_back(kUnitRoundoff * g.norm());
  std::vector<Expr> roots{f};
  roots.insert(roots.end(), grads.begin(), grads.end());
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (int k = 0; k < kNoiseSamples; ++k) {
    const Bindings p = ulp_perturbed(b, symbols, rng);
    try {
      Evaluator ev(p);
      ev.plan(roots);
      out.f = std::max(out.f, std::fabs(ev.eval(f)(0, 0) - f0));
      for (std::size_t i = 0; i < grads.size(); ++i) {
        const Matrix& g = ev.eval(grads[i]);
        if (g.rows() == g0[i].rows() && g.cols() == g0[i].cols())
          out.grads[i] = std::max(out.grads[i], (g - g0[i]).norm());
      }
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Domain) throw;
    }
  }
  return out;
}

// The verdict on G against G_fd with these absolute noise levels.
void judge(CheckResult& r, const Matrix& g, const Matrix& gfd, double g_noise, double fd_noise, double tolerance) {
  r.gradient_norm = g.norm();
  r.fd_norm = gfd.norm();
  r.abs_error = (g - gfd).norm();
  if (!std::isfinite(r.gradient_norm) || !std::isfinite(r.fd_norm) || !std::isfinite(g_noise) ||
      !std::isfinite(fd_noise)) {
    // An overflow (f, its gradient or the differences): nothing to compare.
    r.relative_error = r.noise_floor = std::numeric_limits<double>::infinity();
    r.verdict = CheckVerdict::Unresolved;
    r.ok = false;
    return;
  }
  const double scale = std::max(r.gradient_norm, r.fd_norm);
  r.relative_error = scale > 0 ? r.abs_error / scale : 0;
  r.noise_floor = scale > 0 ? kNoiseSafety * (g_noise + fd_noise) / scale : 0;
  if (r.gradient_norm <= kNoiseSafety * g_noise && r.fd_norm <= kNoiseSafety * fd_noise)
    r.verdict = CheckVerdict::RoundingLevel;
  else if (r.relative_error <= tolerance)
    r.verdict = CheckVerdict::Agrees;
  else if (r.relative_error <= r.noise_floor)
    r.verdict = r.noise_floor <= kMaxUsefulFloor ? CheckVerdict::WithinNoise : CheckVerdict::Unresolved;
  else
    r.verdict = CheckVerdict::Mismatch;
  r.ok = r.verdict == CheckVerdict::Agrees || r.verdict == CheckVerdict::WithinNoise ||
         r.verdict == CheckVerdict::RoundingLevel;
}

}  // namespace

std::map<std::string, std::int64_t> choose_dims(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols,
                                                const CheckOptions& opts, std::mt19937_64& rng) {
  return choose(roots, symbols, opts, rng).dims;
}

Bindings random_inputs(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols,
                       const CheckOptions& opts, std::mt19937_64& rng) {
  ChosenDims chosen = choose(roots, symbols, opts, rng);
  return draw(roots, symbols, chosen, opts.attempts, rng);
}

double evaluation_flops(std::span<const Expr> roots, const std::map<std::string, std::int64_t>& dims) {
  auto size = [&](const Dim& d) { return static_cast<double>(d.value(dims).value_or(1)); };
  double total = 0;
  for (Expr n : topo_order(roots)) {
    const double r = size(n->shape.rows), c = size(n->shape.cols);
    double cost = kNodeOverhead + r * c;
    if (n->op == Op::Mul) {
      std::vector<double> chain;
      for (Expr k : n->kids) {
        if (k->is_scalar()) {
          cost += r * c;  // a scalar factor scales the result
          continue;
        }
        if (chain.empty()) chain.push_back(size(k->shape.rows));
        chain.push_back(size(k->shape.cols));
      }
      cost += 2 * chain_flops(chain);
    } else if (n->op == Op::Inv || n->op == Op::Det || n->op == Op::LogDet) {
      const double m = size(n->kid(0)->shape.rows);
      cost += m * m * m;  // a factorization
    } else if (n->op == Op::MatPow) {
      const double m = r;
      cost += 2 * m * m * m * (1 + std::log2(1.0 + std::abs(n->power)));
    } else {
      for (Expr k : n->kids) cost += size(k->shape.rows) * size(k->shape.cols);
      if (op_class(n->op) == OpClass::Elementwise || n->op == Op::LogSumExp || n->op == Op::Softmax)
        cost += kTranscendental * r * c;  // exp, log, tanh, ... per entry
    }
    total += cost;
  }
  return total;
}

Matrix finite_difference_gradient(Expr f, Expr x, const Bindings& b, double step_scale, Matrix* steps) {
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
  if (steps) *steps = Matrix::Zero(x0.rows(), x0.cols());
  for (Index j = 0; j < x0.cols(); ++j) {
    for (Index i = 0; i < x0.rows(); ++i) {
      if (sym && i < j) continue;  // mirrored below
      const double xi = x0(i, j);
      // Make the step exactly representable so (x+h)-(x-h) is exactly 2h.
      volatile double up = xi + step_scale * kStep * std::max(1.0, std::fabs(xi));
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
      if (steps) {
        (*steps)(i, j) = h;
        if (sym) (*steps)(j, i) = h;
      }
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

double check_work(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
                  const std::map<std::string, Expr>&, const std::map<std::string, std::int64_t>& dims) {
  return work_of(f, wrt, grads, dims).total;
}

CheckReport check_gradients(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
                            const std::map<std::string, Expr>& symbols, const CheckOptions& opts) {
  if (wrt.size() != grads.size())
    throw Error(ErrorKind::Usage, "check_gradients: " + std::to_string(wrt.size()) + " variables but " +
                                      std::to_string(grads.size()) + " gradients");
  std::mt19937_64 rng(opts.seed);
  std::vector<Expr> roots{f};
  roots.insert(roots.end(), grads.begin(), grads.end());

  // Sizes first: the limits are checked before anything is evaluated.
  ChosenDims chosen = choose(roots, symbols, opts, rng);
  for (Expr x : wrt) {
    const double entries = static_cast<double>(x->shape.rows.value(chosen.dims).value_or(1)) *
                           static_cast<double>(x->shape.cols.value(chosen.dims).value_or(1));
    if (entries > static_cast<double>(kMaxCheckedEntries))
      throw Error(ErrorKind::Limit, fmt::format("'{}' has {} entries; finite differences evaluate the function twice "
                                                "per entry (limit {} entries): give smaller --dims",
                                                x->name, entries, kMaxCheckedEntries));
  }
  const Work work = work_of(f, wrt, grads, chosen.dims);
  if (work.total > kMaxCheckFlops) {
    const std::string smaller =
        smaller_dims([&](const std::map<std::string, std::int64_t>& d) { return work_of(f, wrt, grads, d).total; },
                     chosen.dims, opts.dims);
    throw Error(ErrorKind::Limit,
                fmt::format("check would take about {:.2g} floating-point operations ({:.0f} evaluations of the "
                            "expression at about {:.2g} each, at {}); the limit is {:.0e}: give smaller --dims{}",
                            work.total, work.evaluations, work.per_f, sizes_text(chosen.dims), kMaxCheckFlops,
                            smaller.empty() ? "" : " (e.g. --dims " + smaller + ")"));
  }

  CheckReport report;
  report.work_flops = work.total;
  // Draws that fail cost an evaluation each: as many as the budget leaves.
  const double per_draw = std::max(1.0, evaluation_flops(roots, chosen.dims));
  const int attempts = static_cast<int>(
      std::clamp((kMaxCheckFlops - work.total) / per_draw + 1, 1.0, static_cast<double>(std::max(1, opts.attempts))));
  report.inputs = draw(roots, symbols, chosen, attempts, rng);

  Evaluator ev(report.inputs);
  ev.plan(roots);
  report.f_value = ev.eval(f)(0, 0);
  std::vector<Matrix> g0;
  g0.reserve(grads.size());
  for (Expr g : grads) g0.push_back(ev.eval(g));
  const Noise noise = rounding_noise(f, grads, symbols, report.inputs, report.f_value, g0, opts.seed);

  for (std::size_t k = 0; k < wrt.size(); ++k) {
    const Matrix& g = g0[k];
    Matrix steps;
    const Matrix gfd = finite_difference_gradient(f, wrt[k], report.inputs, 1.0, &steps);
    CheckResult r;
    r.variable = wrt[k]->name;
    r.f_noise = noise.f;
    r.step_min = steps.size() ? steps.minCoeff() : 0;
    r.step_max = steps.size() ? steps.maxCoeff() : 0;
    if (g.rows() != gfd.rows() || g.cols() != gfd.cols()) {
      r.relative_error = r.abs_error = std::numeric_limits<double>::infinity();
      r.verdict = CheckVerdict::Mismatch;
      r.ok = false;
    } else {
      // Rounding: each of f(x+h) and f(x-h) is off by up to the noise of f,
      // so their quotient by 2h by up to noise/h per entry.
      const Matrix rounding = (noise.f / steps.array()).matrix();
      judge(r, g, gfd, noise.grads[k], rounding.norm(), opts.tolerance);
      if (!r.ok) {
        // Truncation (h^2 f'''/6) and any rounding the perturbations missed
        // show as the difference between two steps: measure it, and judge
        // again with it in the floor.
        const Matrix gfd2 = finite_difference_gradient(f, wrt[k], report.inputs, 2.0);
        r.two_steps = true;
        const Matrix floor = rounding + (gfd2 - gfd).cwiseAbs();
        judge(r, g, gfd, noise.grads[k], floor.norm(), opts.tolerance);
      }
    }
    report.ok = report.ok && r.ok;
    report.results.push_back(std::move(r));
  }
  return report;
}

// ------------------------------------------------------------ second order

namespace {

// The directions one second-order check moves along, and the columns of the
// comparison: column k compares the symbolic side of direction dir[k] (the
// column unit[k] of the matrix, or, when unit[k] < 0, the matrix times
// vec(D) or `along` at D) with the central differences along it.
struct Directions {
  std::vector<Matrix> d;  // shaped like x, the largest entry 1 (1/2 for sym(E_ij))
  std::vector<std::size_t> dir;
  std::vector<Index> unit;
  int units = 0, randoms = 0;
};

double free_entries_of(const Matrix& x0, bool sym) {
  const double r = static_cast<double>(x0.rows()), c = static_cast<double>(x0.cols());
  return sym ? r * (r + 1) / 2 : r * c;
}

Directions directions_for(const DerivativeCheck& c, const Matrix& x0, bool sym, std::mt19937_64& rng) {
  Directions out;
  const Index rows = x0.rows(), cols = x0.cols();
  auto column = [&](std::size_t k, Index unit) {
    out.dir.push_back(k);
    out.unit.push_back(unit);
  };
  const bool all_units = free_entries_of(x0, sym) <= static_cast<double>(kMaxUnitDirections);
  if (all_units) {
    for (Index j = 0; j < cols; ++j)
      for (Index i = sym ? j : 0; i < rows; ++i) {
        Matrix d = Matrix::Zero(rows, cols);
        d(i, j) = 1;
        if (sym && i != j) d(i, j) = d(j, i) = 0.5;  // sym(E_ij)
        out.d.push_back(std::move(d));
        const std::size_t k = out.d.size() - 1;
        if (!c.matrix) {
          column(k, -1);
        } else {
          column(k, j * rows + i);
          if (sym && i != j) column(k, i * rows + j);  // the same direction: columns (i,j) and (j,i)
        }
        ++out.units;
      }
  }
  const int randoms = all_units ? kRandomDirections : kOnlyRandomDirections;
  for (int r = 0; r < randoms; ++r) {
    Matrix d = draw_normal(rows, cols, rng);
    if (sym) d = (0.5 * (d + d.transpose())).eval();
    const double m = d.cwiseAbs().maxCoeff();
    if (m > 0) d /= m;
    out.d.push_back(std::move(d));
    column(out.d.size() - 1, -1);
    ++out.randoms;
  }
  return out;
}

// The symbolic side of every column at b; `whole`, when given, receives the
// matrix c.matrix.
Matrix symbolic_columns(const DerivativeCheck& c, const Directions& dirs, const Bindings& b, Index rows,
                        Matrix* whole = nullptr) {
  Matrix a(rows, static_cast<Index>(dirs.dir.size()));
  if (c.matrix) {
    Evaluator ev(b);
    const Matrix& m = ev.eval(c.matrix);
    if (whole) *whole = m;
    if (m.rows() != rows || m.cols() != dirs.d[0].size())
      throw Error(ErrorKind::Shape, fmt::format("the matrix checked is {} x {}, not {} x {}", m.rows(), m.cols(), rows,
                                                dirs.d[0].size()));
    for (Index k = 0; k < a.cols(); ++k) {
      const std::size_t kk = static_cast<std::size_t>(k);
      if (dirs.unit[kk] >= 0)
        a.col(k) = m.col(dirs.unit[kk]);
      else
        a.col(k) = m * dirs.d[dirs.dir[kk]].reshaped();
    }
    return a;
  }
  Bindings bd = b;
  for (Index k = 0; k < a.cols(); ++k) {
    bd.values[c.direction->name] = dirs.d[dirs.dir[static_cast<std::size_t>(k)]];
    const Matrix v = evaluate(c.along, bd);
    if (v.size() != rows)
      throw Error(ErrorKind::Shape, fmt::format("the derivative checked has {} entries, not {}", v.size(), rows));
    a.col(k) = v.reshaped();
  }
  return a;
}

// Central differences of c.of along every direction, step_scale times the
// step that balances truncation and rounding; `steps` gets each column's h.
Matrix fd_columns(const DerivativeCheck& c, const Directions& dirs, const Bindings& b, Index rows, double step_scale,
                  std::vector<double>& steps) {
  static const double kStep = std::cbrt(kEps);
  Bindings work = b;
  Matrix& xv = work.values.at(c.x->name);
  const Matrix x0 = xv;
  std::vector<Matrix> by_dir;
  std::vector<double> h_of;
  for (const Matrix& d : dirs.d) {
    double scale = 1;  // the largest entry of x that moves
    for (Index i = 0; i < d.size(); ++i)
      if (d.data()[i] != 0) scale = std::max(scale, std::fabs(x0.data()[i]));
    const double h = step_scale * kStep * scale / d.cwiseAbs().maxCoeff();
    xv = x0 + h * d;
    const Matrix fp = evaluate(c.of, work);
    xv = x0 - h * d;
    const Matrix fm = evaluate(c.of, work);
    by_dir.push_back(((fp - fm) / (2 * h)).reshaped());
    h_of.push_back(h);
  }
  xv = x0;
  Matrix out(rows, static_cast<Index>(dirs.dir.size()));
  steps.clear();
  for (Index k = 0; k < out.cols(); ++k) {
    const std::size_t dk = dirs.dir[static_cast<std::size_t>(k)];
    out.col(k) = by_dir[dk];
    steps.push_back(h_of[dk]);
  }
  return out;
}

double numel(Expr e, const std::map<std::string, std::int64_t>& dims) {
  return static_cast<double>(e->shape.rows.value(dims).value_or(1)) *
         static_cast<double>(e->shape.cols.value(dims).value_or(1));
}

// The roots whose domain the inputs must lie in: f, each `of` and matrix.
std::vector<Expr> derivative_roots(Expr f, const std::vector<DerivativeCheck>& checks) {
  std::vector<Expr> roots{f};
  for (const DerivativeCheck& c : checks) {
    roots.push_back(c.of);
    if (c.matrix) roots.push_back(c.matrix);
  }
  return roots;
}

// The estimated work of check_derivatives at these sizes (flops): the draw,
// then per check the noise samples and the first evaluation of both sides,
// and the central differences at (at most) two steps.
double derivative_work(Expr f, const std::vector<DerivativeCheck>& checks,
                       const std::map<std::string, std::int64_t>& dims) {
  const std::vector<Expr> roots = derivative_roots(f, checks);
  double total = 2 * evaluation_flops(roots, dims);
  for (const DerivativeCheck& c : checks) {
    const double free = free_entries(c.x, dims);
    const double dirs = free <= static_cast<double>(kMaxUnitDirections) ? free + kRandomDirections
                                                                        : static_cast<double>(kOnlyRandomDirections);
    const double of = evaluation_flops(std::span<const Expr>(&c.of, 1), dims);
    const double symbolic = c.matrix ? evaluation_flops(std::span<const Expr>(&c.matrix, 1), dims) +
                                           dirs * numel(c.of, dims) * numel(c.x, dims)
                                     : dirs * evaluation_flops(std::span<const Expr>(&c.along, 1), dims);
    total += (1 + kNoiseSamples) * (of + symbolic) + 4 * dirs * of;
  }
  return total;
}

}  // namespace

CheckReport check_derivatives(Expr f, const std::vector<DerivativeCheck>& checks,
                              const std::map<std::string, Expr>& symbols, const CheckOptions& opts) {
  std::mt19937_64 rng(opts.seed);
  const std::vector<Expr> roots = derivative_roots(f, checks);
  for (const DerivativeCheck& c : checks)
    if (c.x->op != Op::Symbol || !c.of || (!c.matrix && (!c.along || !c.direction)))
      throw std::logic_error("check_derivatives: an incomplete check of " + c.label);

  // Sizes first: the limits are checked before anything is evaluated.
  ChosenDims chosen = choose(roots, symbols, opts, rng);
  for (const DerivativeCheck& c : checks) {
    if (!c.matrix) continue;
    const double entries = numel(c.of, chosen.dims) * numel(c.x, chosen.dims);
    if (entries > kMaxCheckedMatrixEntries)
      throw Error(ErrorKind::Limit,
                  fmt::format("the matrix checked for {} has {:.0f} entries at {} (limit {:.0f}): give "
                              "smaller --dims",
                              c.label, entries, sizes_text(chosen.dims), kMaxCheckedMatrixEntries));
  }
  const double work = derivative_work(f, checks, chosen.dims);
  if (work > kMaxCheckFlops) {
    const std::string smaller =
        smaller_dims([&](const std::map<std::string, std::int64_t>& d) { return derivative_work(f, checks, d); },
                     chosen.dims, opts.dims);
    throw Error(ErrorKind::Limit, fmt::format("check would take about {:.2g} floating-point operations (at {}); the "
                                              "limit is {:.0e}: give smaller --dims{}",
                                              work, sizes_text(chosen.dims), kMaxCheckFlops,
                                              smaller.empty() ? "" : " (e.g. --dims " + smaller + ")"));
  }

  CheckReport report;
  report.work_flops = work;
  const double per_draw = std::max(1.0, evaluation_flops(roots, chosen.dims));
  const int attempts = static_cast<int>(
      std::clamp((kMaxCheckFlops - work) / per_draw + 1, 1.0, static_cast<double>(std::max(1, opts.attempts))));
  report.inputs = draw(roots, symbols, chosen, attempts, rng);
  if (f->is_scalar()) report.f_value = evaluate(f, report.inputs)(0, 0);

  for (const DerivativeCheck& c : checks) {
    const Matrix& x0 = report.inputs.values.at(c.x->name);
    const bool sym = c.x->symmetric && x0.rows() == x0.cols() && x0.rows() > 1;
    const Directions dirs = directions_for(c, x0, sym, rng);
    const Matrix of0 = evaluate(c.of, report.inputs);
    const Index rows = of0.size();
    CheckResult r;
    r.variable = c.label;
    r.unit_directions = dirs.units;
    r.random_directions = dirs.randoms;
    Matrix whole;
    const Matrix a = symbolic_columns(c, dirs, report.inputs, rows, &whole);
    std::vector<double> steps;
    const Matrix fd = fd_columns(c, dirs, report.inputs, rows, 1.0, steps);
    r.step_min = *std::min_element(steps.begin(), steps.end());
    r.step_max = *std::max_element(steps.begin(), steps.end());

    // Rounding noise of both sides: their spread when every input moves by
    // one ulp, and at least the rounding of the results.
    constexpr double kUnitRoundoff = kEps / 2;
    double of_noise = kUnitRoundoff * of0.norm(), a_noise = kUnitRoundoff * a.norm();
    std::mt19937_64 noise_rng(opts.seed ^ 0x9e3779b97f4a7c15ULL);
    for (int k = 0; k < kNoiseSamples; ++k) {
      const Bindings p = ulp_perturbed(report.inputs, symbols, noise_rng);
      try {
        of_noise = std::max(of_noise, (evaluate(c.of, p) - of0).norm());
        a_noise = std::max(a_noise, (symbolic_columns(c, dirs, p, rows) - a).norm());
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::Domain) throw;
      }
    }
    r.f_noise = of_noise;
    // Each of of(x+hD) and of(x-hD) is off by up to its noise, so a column
    // of the differences by up to noise/h.
    double rounding = 0;
    for (double h : steps) rounding += (of_noise / h) * (of_noise / h);
    rounding = std::sqrt(rounding);
    judge(r, a, fd, a_noise, rounding, opts.tolerance);
    if (!r.ok) {
      // Truncation, and rounding the perturbations missed: the difference
      // between the steps h and 2h.
      std::vector<double> steps2;
      const Matrix fd2 = fd_columns(c, dirs, report.inputs, rows, 2.0, steps2);
      r.two_steps = true;
      judge(r, a, fd, a_noise, rounding + (fd2 - fd).norm(), opts.tolerance);
    }
    if (c.hessian_block) {
      const double norm = whole.norm();
      r.asymmetry = norm > 0 ? (whole - whole.transpose()).norm() / norm : 0;
      if (whole.rows() != whole.cols() || !(r.asymmetry <= std::max(opts.tolerance, r.noise_floor))) {
        r.verdict = CheckVerdict::Mismatch;
        r.ok = false;
      }
    }
    report.ok = report.ok && r.ok;
    report.results.push_back(std::move(r));
  }
  return report;
}

}  // namespace matcalc
