// Random well-typed expressions for the property tests (tests/prop).
//
// The generator builds a small tree of text templates ("($0 + $1)",
// "logdet($0)", ...) over a fixed pool of declared symbols, and renders it as
// text in the language of LANGUAGE.md. Every operator and function of the
// language appears. Arguments are built so that they lie in their function's
// domain for every input: logdet/det/inv get (symmetric) positive definite
// matrices such as `M*M' + 0.5*eye(n)`, log/sqrt/./ and fractional powers get
// positive arrays such as `exp(t)` or `t.^2 + 0.5*ones(n,k)`, tan gets a
// bounded argument. What cannot be guaranteed by construction (distance from
// the kinks of abs/relu/sign/norm1/norm2, moderate magnitude) is recorded as
// a requirement on the argument and screened numerically (properties.hpp).
//
// Everything is deterministic in the seed: std::mt19937_64 with our own
// uniform helpers (no std distributions, whose output differs between
// standard libraries).
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace matcalc::prop {

// Deterministic random helpers over mt19937_64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  std::uint64_t next() { return g_(); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  std::size_t below(std::size_t n) {  // [0, n)
    return static_cast<std::size_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  bool chance(double p) { return uniform() < p; }

 private:
  std::mt19937_64 g_;
};

// Seed of case `index` of a run with seed `seed` (splitmix64 of both).
std::uint64_t case_seed(std::uint64_t seed, std::uint64_t index);

// Dimensions: 1 (scalar side), the two dimension symbols n and k, and the
// lengths n*k and n*n of vec/kron results (column vectors only).
enum class D { One, N, K, NK, NN };
const char* dim_text(D d);

struct PShape {
  D r = D::One, c = D::One;
  bool operator==(const PShape&) const = default;
  PShape t() const { return {c, r}; }
  bool scalar() const { return r == D::One && c == D::One; }
  bool square() const { return r == c; }
};

// What an argument must satisfy beyond its type, checked numerically.
enum class Req {
  None,
  Kink,      // every entry away from 0 (abs, relu, sign, norm1)
  NormKink,  // not (near) the zero array (norm2)
  Positive,  // every entry clearly positive (log, sqrt, ./, fractional powers) -- by construction too
  Moderate,  // entries of moderate size (logsumexp, softmax: the oracle computes them naively)
};

struct GNode;
using GNodeP = std::shared_ptr<const GNode>;

// A template with placeholders $0..$9 for the kids' texts.
struct GNode {
  std::string fmt;
  PShape shape;
  std::vector<GNodeP> kids;
  std::vector<Req> reqs;  // one per kid
};

// The text of a tree; with for_oracle, identities as eye(n) (the oracle of
// tests/rules cannot size I), else as I where the template says so.
std::string render(const GNode& n, bool for_oracle = false);
int node_count(const GNode& n);

// The pool of symbols every expression draws its leaves from.
struct PoolSymbol {
  const char* name;
  PShape shape;
  bool symmetric;
  const char* decl;  // declaration text, e.g. "W: matrix(n,k)"
};
const std::vector<PoolSymbol>& symbol_pool();

struct GenOptions {
  int depth = 5;  // nesting depth of the generated trees
  // Probability that a case is an extreme draw (properties.hpp, Extreme):
  // extreme magnitudes or literals, nearly singular or nearly asymmetric
  // inputs, a point outside the domain. 0: none.
  double extreme = 0.08;
};

// What makes a case extreme (drawn by make_case with GenOptions::extreme,
// from a random stream of its own, so that the other cases are the same as
// without extreme draws).
enum class Extreme {
  None,
  Magnitude,       // input entries scaled by about 1e+-150
  Literal,         // a 1e+-150 constant in the expression
  NearSingular,    // a square input of condition 1e10..1e15
  NearAsymmetric,  // one pair of a symmetric input off by a relative 1e-12..1e-6
  Outside,         // a negative argument of log/sqrt/powers, a zero divisor, a singular matrix under inv/logdet
};
const char* extreme_name(Extreme e);

class Generator {
 public:
  Generator(Rng& rng, GenOptions opt) : rng_(rng), opt_(opt) {}
  // A scalar-valued expression (depth 0: the options' depth). Later calls
  // may reuse subexpressions of earlier ones.
  GNodeP scalar_expression(int depth = 0);

  // Simple leaves of a shape (symbols of the pool, constants), for shrinking.
  static std::vector<GNodeP> leaves(PShape s);

 private:
  Rng& rng_;
  GenOptions opt_;
  bool root_ = false;  // the next any() call builds the root
  std::vector<std::pair<PShape, GNodeP>> made_;  // subexpressions built so far, for reuse

  GNodeP any(PShape s, int d);
  GNodeP any_new(PShape s, int d, bool root);
  GNodeP pos(PShape s, int d);   // entrywise positive
  GNodeP bnd(PShape s, int d);   // entries of moderate size (|t| <~ 2)
  GNodeP spd(D n, int d);        // symmetric positive definite
  GNodeP pd(D n, int d);         // det > 0, every eigenvalue with a positive real part
  GNodeP longv(D len, int d);    // column vector of length n*k or n*n
  GNodeP leaf(PShape s);
  D inner();
};

}  // namespace matcalc::prop
