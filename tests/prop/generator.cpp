#include "generator.hpp"

#include <cctype>
#include <functional>
#include <stdexcept>

namespace matcalc::prop {

std::uint64_t case_seed(std::uint64_t seed, std::uint64_t index) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ index);
}

const char* dim_text(D d) {
  switch (d) {
    case D::One: return "1";
    case D::N: return "n";
    case D::K: return "k";
    case D::NK: return "n*k";
    case D::NN: return "n*n";
  }
  return "?";
}

std::string render(const GNode& n, bool for_oracle) {
  std::string out;
  for (std::size_t i = 0; i < n.fmt.size(); ++i) {
    char c = n.fmt[i];
    if (c == '$' && i + 1 < n.fmt.size() && n.fmt[i + 1] >= '0' && n.fmt[i + 1] <= '9') {
      out += render(*n.kids.at(static_cast<std::size_t>(n.fmt[i + 1] - '0')), for_oracle);
      ++i;
    } else if (c == '#' && i + 1 < n.fmt.size()) {  // #n: I, sized by its place (eye(n) for the oracle)
      out += for_oracle ? std::string("eye(") + n.fmt[i + 1] + ")" : "I";
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

int node_count(const GNode& n) {
  int c = 1;
  for (const auto& k : n.kids) c += node_count(*k);
  return c;
}

const std::vector<PoolSymbol>& symbol_pool() {
  static const std::vector<PoolSymbol> pool = {
      {"a", {D::One, D::One}, false, "a: scalar"},
      {"b", {D::One, D::One}, false, "b: scalar"},
      {"x", {D::N, D::One}, false, "x: vector(n)"},
      {"y", {D::N, D::One}, false, "y: vector(n)"},
      {"z", {D::K, D::One}, false, "z: vector(k)"},
      {"A", {D::N, D::N}, false, "A: matrix(n,n)"},
      {"B", {D::N, D::N}, false, "B: matrix(n,n)"},
      {"C", {D::K, D::K}, false, "C: matrix(k,k)"},
      {"W", {D::N, D::K}, false, "W: matrix(n,k)"},
      {"V", {D::K, D::N}, false, "V: matrix(k,n)"},
      {"S", {D::N, D::N}, true, "S: symmetric(n)"},
      {"T", {D::K, D::K}, true, "T: symmetric(k)"},
  };
  return pool;
}

namespace {

GNodeP mk(std::string fmt, PShape s, std::vector<GNodeP> kids = {}, std::vector<Req> reqs = {}) {
  auto n = std::make_shared<GNode>();
  n->fmt = std::move(fmt);
  n->shape = s;
  reqs.resize(kids.size(), Req::None);
  n->kids = std::move(kids);
  n->reqs = std::move(reqs);
  return n;
}

bool is_long(D d) { return d == D::NK || d == D::NN; }

std::string ones_text(PShape s) {
  if (s.c == D::One) return std::string("ones(") + dim_text(s.r) + ")";
  return std::string("ones(") + dim_text(s.r) + "," + dim_text(s.c) + ")";
}

std::string eye_text(D n) { return std::string("eye(") + dim_text(n) + ")"; }
std::string I_text(D n) { return std::string("#") + dim_text(n); }  // n or k only

struct Choice {
  double w;
  std::function<GNodeP()> make;
};

GNodeP pick(Rng& rng, const std::vector<Choice>& cs) {
  double total = 0;
  for (const auto& c : cs) total += c.w;
  double u = rng.uniform() * total;
  for (const auto& c : cs) {
    if (u < c.w) return c.make();
    u -= c.w;
  }
  return cs.back().make();
}

const char* const kLiterals[] = {"2", "0.5", "3", "1.5", "1e-1"};
const char* const kPositiveCoefs[] = {"0.5", "1", "2"};

}  // namespace

std::vector<GNodeP> Generator::leaves(PShape s) {
  std::vector<GNodeP> out;
  for (const auto& p : symbol_pool()) {
    if (p.shape == s) out.push_back(mk(p.name, s));
    else if (p.shape.t() == s && !p.symmetric) out.push_back(mk(std::string(p.name) + "'", s));
  }
  if (s.scalar()) {
    out.push_back(mk("1", s));
    out.push_back(mk("2", s));
  } else if (is_long(s.r)) {
    out.push_back(mk(s.r == D::NK ? "vec(W)" : "vec(A)", s));
    out.push_back(mk(s.r == D::NK ? "kron(x, z)" : "kron(x, y)", s));
  } else {
    out.push_back(mk(ones_text(s), s));
    if (s.square()) out.push_back(mk(eye_text(s.r), s));
  }
  return out;
}

D Generator::inner() {
  switch (rng_.below(3)) {
    case 0: return D::One;
    case 1: return D::N;
    default: return D::K;
  }
}

GNodeP Generator::leaf(PShape s) {
  if (s.scalar() && rng_.chance(0.15)) return mk(kLiterals[rng_.below(5)], s);
  std::vector<GNodeP> ls = leaves(s);
  // Symbols (the first entries) much more often than constants.
  std::size_t symbols = 0;
  for (const auto& l : ls)
    if (l->fmt.find('(') == std::string::npos && (std::isalpha(static_cast<unsigned char>(l->fmt[0])))) ++symbols;
  if (symbols > 0 && rng_.chance(0.9)) return ls[rng_.below(symbols)];
  return ls[rng_.below(ls.size())];
}

GNodeP Generator::scalar_expression(int depth) {
  root_ = true;
  return any({D::One, D::One}, depth > 0 ? depth : opt_.depth);
}

// ------------------------------------------------------------------ any

GNodeP Generator::any(PShape s, int d) {
  if (is_long(s.r)) return longv(s.r, d);
  const bool root = root_;
  root_ = false;
  // An earlier subexpression of the same shape again: repeated terms and
  // factors (like terms, powers, cancellations, shared nodes of the DAG).
  if (!root) {
    for (const auto& [shape, node] : made_)
      if (shape == s && rng_.chance(0.12)) return node;
  }
  GNodeP n = any_new(s, d, root);
  if (made_.size() < 64) made_.push_back({s, n});
  return n;
}

GNodeP Generator::any_new(PShape s, int d, bool root) {
  if (d <= 0 || (!root && rng_.chance(0.1))) return leaf(s);
  const int e = d - 1;
  const PShape one{D::One, D::One};
  // (Everything the choices capture lives until pick() has run.)
  const std::string I = eye_text(s.r);
  auto sq = [&] { D m = rng_.chance(0.5) ? D::N : D::K; return PShape{m, m}; };
  auto vecshape = [&] { return PShape{rng_.chance(0.5) ? D::N : D::K, D::One}; };
  auto anyshape = [&] {
    D r = inner(), c = inner();
    return PShape{r, c};
  };
  std::vector<Choice> cs = {
      {3, [&] { return mk("($0 + $1)", s, {any(s, e), any(s, e)}); }},
      {2, [&] { return mk("($0 - $1)", s, {any(s, e), any(s, e)}); }},
      {0.7, [&] { return mk("(-$0)", s, {any(s, e)}); }},
      {1.5, [&] { return mk("($0*$1)", s, {any(one, e), any(s, e)}); }},
      {0.5, [&] { return mk("($1*$0)", s, {any(one, e), any(s, e)}); }},
      {1, [&] { return mk("($0/$1)", s, {any(s, e), pos(one, e)}, {Req::None, Req::Positive}); }},
      {1.5, [&] { return mk("($0 .* $1)", s, {any(s, e), any(s, e)}); }},
      {0.8, [&] { return mk("($0 ./ $1)", s, {any(s, e), pos(s, e)}, {Req::None, Req::Positive}); }},
      {0.3, [&] { return mk("($0 ./ $1)", s, {any(one, e), pos(s, e)}, {Req::None, Req::Positive}); }},
      {0.3, [&] { return mk("($0 .* $1)", s, {any(one, e), any(s, e)}); }},
      {0.8, [&] { return mk(s.scalar() ? "$0^2" : "$0.^2", s, {any(s, e)}); }},
      {0.3, [&] { return mk(s.scalar() ? "$0^3" : "$0.^3", s, {bnd(s, e)}); }},
      {0.6, [&] {
         const char* p[] = {"0.5", "-1", "1.5", "-0.5", "-2"};
         return mk(std::string(s.scalar() ? "$0^" : "$0.^") + p[rng_.below(5)], s, {pos(s, e)}, {Req::Positive});
       }},
      {0.4, [&] { return mk(s.scalar() ? "$0^$1" : "$0.^$1", s, {pos(s, e), bnd(one, e)}, {Req::Positive}); }},
      // elementwise functions
      {1.2, [&] { return mk("exp($0)", s, {bnd(s, e)}); }},
      {0.2, [&] { return mk("exp($0)", s, {any(s, e)}); }},
      {1, [&] { return mk("log($0)", s, {pos(s, e)}, {Req::Positive}); }},
      {0.7, [&] { return mk("sqrt($0)", s, {pos(s, e)}, {Req::Positive}); }},
      {0.6, [&] { return mk("sin($0)", s, {any(s, e)}); }},
      {0.6, [&] { return mk("cos($0)", s, {any(s, e)}); }},
      {0.5, [&] {
         const char* w[] = {"tan(tanh($0))", "tan(sin($0))", "tan(0.5*cos($0))"};
         return mk(w[rng_.below(3)], s, {any(s, e)});
       }},
      {0.6, [&] { return mk("tanh($0)", s, {any(s, e)}); }},
      {0.6, [&] { return mk("abs($0)", s, {any(s, e)}, {Req::Kink}); }},
      {0.4, [&] { return mk("(sign($0) .* $1)", s, {any(s, e), any(s, e)}, {Req::Kink}); }},
      {0.6, [&] { return mk("sigmoid($0)", s, {any(s, e)}); }},
      {0.6, [&] { return mk("softplus($0)", s, {any(s, e)}); }},
      {0.6, [&] { return mk("relu($0)", s, {any(s, e)}, {Req::Kink}); }},
      // structure
      {1, [&] { return mk("$0'", s, {any(s.t(), e)}); }},
      {3, [&] { D m = inner(); return mk("($0*$1)", s, {any({s.r, m}, e), any({m, s.c}, e)}); }},
      {0.5, [&] { D m = inner(); D q = inner();
                  return mk("($0*$1*$2)", s, {any({s.r, m}, e), any({m, q}, e), any({q, s.c}, e)}); }},
      {0.2, [&] { return mk("kron($0, $1)", s, {any(one, e), any(s, e)}); }},
      {0.4, [&] { return mk("($0*$1 + $2*$1)", s, {any(one, e), any(s, e), any(one, e)}); }},
      {0.3, [&] { D m = inner(); return mk("($0*$1 + $2*$1)", s, {any({s.r, m}, e), any({m, s.c}, e), any({s.r, m}, e)}); }},
      {0.3, [&] { D m = inner(); return mk("($0*$1 + $0*$2)", s, {any({s.r, m}, e), any({m, s.c}, e), any({m, s.c}, e)}); }},
      {0.3, [&] { return mk("(2*$0 - $0 + $1)", s, {any(s, e), any(s, e)}); }},
      {0.3, [&] { return mk("(-($0 - $1))", s, {any(s, e), any(s, e)}); }},
      {0.3, [&] { return mk("(2*($0/2*$1 - $2/2))", s, {any(one, e), any(s, e), any(s, e)}); }},
      {0.3, [&] { return mk("($0 .* $0 .* $1)", s, {any(s, e), any(s, e)}); }},
      {0.3, [&] { return mk("(($0 ./ $1) .* $1)", s, {any(s, e), pos(s, e)}, {Req::None, Req::Positive}); }},
      {0.2, [&] { return mk(s.scalar() ? "($0^2)^3" : "($0.^2).^3", s, {bnd(s, e)}); }},
      {0.2, [&] { return mk(s.scalar() ? "($0^0.5)^2" : "($0.^0.5).^2", s, {pos(s, e)}, {Req::Positive}); }},
      {0.2, [&] { return mk("($0/$1*$1)", s, {any(s, e), pos(one, e)}, {Req::None, Req::Positive}); }},
      {0.2, [&] { return mk("(($0*$1)*($2*$0))", s, {any(one, e), any(s, e), any(one, e)}); }},
      {0.1, [&] { return mk(s.scalar() ? "($0 + 0)" : "($0 + zeros(" + std::string(dim_text(s.r)) + "," + dim_text(s.c) + "))", s, {any(s, e)}); }},
      {0.2, [&] { return mk("kron($0, $1)", s, {any(s, e), any(one, e)}); }},
  };
  if (s.scalar()) {
    std::vector<Choice> more = {
        {1.5, [&] { return mk("tr($0)", s, {any(sq(), e)}); }},
        {0.6, [&] { return mk("det($0)", s, {pd(rng_.chance(0.5) ? D::N : D::K, e)}); }},
        {1.5, [&] { return mk("logdet($0)", s, {pd(rng_.chance(0.5) ? D::N : D::K, e)}); }},
        {0.2, [&] { return mk("logdet($0)", s, {pos(one, e)}, {Req::Positive}); }},
        {0.2, [&] { return mk("det($0)", s, {any(one, e)}); }},
        {0.2, [&] { return mk("inv($0)", s, {pos(one, e)}, {Req::Positive}); }},
        {1.2, [&] { return mk("sum($0)", s, {any(anyshape(), e)}); }},
        {1, [&] { return mk("norm2($0)", s, {any(anyshape(), e)}, {Req::NormKink}); }},
        {0.6, [&] { return mk("norm1($0)", s, {any(anyshape(), e)}, {Req::Kink}); }},
        {0.8, [&] { PShape v = vecshape(); return mk("logsumexp($0)", s, {rng_.chance(0.5) ? any(v, e) : any(v.t(), e)}, {Req::Moderate}); }},
        {1, [&] { PShape t = anyshape(); return mk("($0 : $1)", s, {any(t, e), any(t, e)}); }},
        {1, [&] { D m = rng_.chance(0.5) ? D::N : D::K;
                  return mk("($0'*$1*$0)", s, {any({m, D::One}, e), any({m, m}, e)}); }},
        {0.5, [&] { D m = rng_.chance(0.5) ? D::N : D::K;
                    return mk("($0'*$1*$0)", s, {any({m, D::One}, e), spd(m, e)}); }},
        {0.3, [&] { return mk("softmax($0)", s, {any(one, e)}, {Req::Moderate}); }},
        {0.3, [&] { return mk("diag($0)", s, {any(one, e)}); }},
        {0.3, [&] { return mk("sym($0)", s, {any(one, e)}); }},
        {0.3, [&] { return mk("vec($0)", s, {any(one, e)}); }},
        // through vec and kron
        {0.5, [&] { D l = rng_.chance(0.6) ? D::NK : D::NN; return mk("sum($0)", s, {longv(l, e)}); }},
        {0.5, [&] { D l = rng_.chance(0.6) ? D::NK : D::NN; return mk("norm2($0)", s, {longv(l, e)}, {Req::NormKink}); }},
        {0.3, [&] { D l = rng_.chance(0.6) ? D::NK : D::NN; return mk("norm1($0)", s, {longv(l, e)}, {Req::Kink}); }},
        {0.4, [&] { D l = rng_.chance(0.6) ? D::NK : D::NN; return mk("logsumexp($0)", s, {longv(l, e)}, {Req::Moderate}); }},
        {0.8, [&] { D l = rng_.chance(0.6) ? D::NK : D::NN; return mk("($0'*$1)", s, {longv(l, e), longv(l, e)}); }},
    };
    // The patterns of the rewrite rules and of the normal form, with random
    // arguments, so that the rules fire often.
    std::vector<Choice> bait = {
        {0.3, [&] { return mk("log(det($0))", s, {pd(sq().r, e)}); }},
        {0.3, [&] { return mk("logdet(inv($0))", s, {pd(sq().r, e)}); }},
        {0.3, [&] { return mk("det(inv($0))", s, {pd(sq().r, e)}); }},
        {0.3, [&] { return mk("log(exp($0))", s, {any(s, e)}); }},
        {0.2, [&] { return mk("exp(log($0))", s, {pos(s, e)}, {Req::Positive}); }},
        {0.2, [&] { return mk("sqrt($0)^2", s, {pos(s, e)}, {Req::Positive}); }},
        {0.2, [&] { return mk("sqrt($0^2)", s, {any(s, e)}, {Req::Kink}); }},
        {0.2, [&] { return mk("abs($0)^2", s, {any(s, e)}, {Req::Kink}); }},
        {0.3, [&] { return mk("norm2($0)^2", s, {any(vecshape(), e)}, {Req::NormKink}); }},
        {0.3, [&] { return mk("norm2($0)^2", s, {any(anyshape(), e)}, {Req::NormKink}); }},
        {0.3, [&] { PShape v = vecshape(); return mk("sum($0 .* $1)", s, {any(v, e), any(v, e)}); }},
        {0.3, [&] { return mk("tr(sym($0))", s, {any(sq(), e)}); }},
        {0.3, [&] { PShape q = sq(); return mk("tr($0*sym($1))", s, {spd(q.r, e), any(q, e)}); }},
        {0.2, [&] { PShape q = sq(); return mk("tr(sym($0')*$1)", s, {any(q, e), any(q, e)}); }},
        {0.3, [&] { PShape q = sq(); D m = inner(), p = inner();
                    return mk("tr($0*$1*$2)", s, {any({q.r, m}, e), any({m, p}, e), any({p, q.r}, e)}); }},
        {0.3, [&] { PShape v = vecshape(); return mk("sum($0*$1')", s, {any(v, e), any(v, e)}); }},
        {0.3, [&] { PShape v = vecshape(); return mk("tr($0*$1')", s, {any(v, e), any(v, e)}); }},
    };
    for (auto& b : bait) b.w *= 2;
    cs.insert(cs.end(), bait.begin(), bait.end());
    // Mostly functions of vectors and matrices at the root, and often below.
    const double boost = root ? 6 : 2;
    for (auto& m : more) m.w *= boost;
    cs.insert(cs.end(), more.begin(), more.end());
  }
  if (s.c == D::One && !s.scalar()) {  // column vectors
    std::vector<Choice> more = {
        {1, [&] { return mk("diag($0)", s, {any({s.r, s.r}, e)}); }},
        {0.8, [&] { return mk("softmax($0)", s, {any(s, e)}, {Req::Moderate}); }},
        {0.2, [&] { return mk("diag(diag($0))", s, {any(s, e)}); }},
        {0.3, [&] { return mk("vec($0)", s, {any(s.t(), e)}); }},
        {0.3, [&] { return mk("vec($0)", s, {any(s, e)}); }},
        {1, [&] { return mk("($0*$1)", s, {pd(s.r, e), any(s, e)}); }},
        {0.5, [&] { return mk("(inv($0)*$1)", s, {pd(s.r, e), any(s, e)}); }},
    };
    cs.insert(cs.end(), more.begin(), more.end());
  }
  if (s.r == D::One && !s.scalar()) {  // rows
    std::vector<Choice> more = {
        {0.5, [&] { return mk("softmax($0)", s, {any(s, e)}, {Req::Moderate}); }},
        {0.3, [&] { return mk("vec($0)'", s, {any(s, e)}); }},
    };
    cs.insert(cs.end(), more.begin(), more.end());
  }
  if (s.square() && !s.scalar()) {
    std::vector<Choice> more = {
        {1, [&] { return mk("inv($0)", s, {pd(s.r, e)}); }},
        {0.3, [&] { return mk("$0^-1", s, {pd(s.r, e)}); }},
        {0.2, [&] { return mk("$0^-2", s, {pd(s.r, e)}); }},
        {0.6, [&] { return mk("$0^2", s, {any(s, e)}); }},
        {0.3, [&] { return mk("$0^3", s, {bnd(s, e)}); }},
        {0.1, [&] { return mk("$0^0", s, {any(s, e)}); }},
        {0.1, [&] { return mk("$0^1", s, {any(s, e)}); }},
        {0.6, [&] { return mk("sym($0)", s, {any(s, e)}); }},
        {0.2, [&] { return mk("sym($0')", s, {any(s, e)}); }},
        {0.3, [&] { return mk("(inv($0)*$0*$1)", s, {pd(s.r, e), any(s, e)}); }},
        {0.3, [&] { return mk("($1*$0*inv($0))", s, {pd(s.r, e), any(s, e)}); }},
        {0.3, [&] { return mk("($0*$0*$0)", s, {any(s, e)}); }},
        {0.2, [&] { return mk("($0*$0^2*$1)", s, {any(s, e), any(s, e)}); }},
        {0.2, [&] { return mk("inv($0*$1)", s, {pos(one, e), pd(s.r, e)}); }},
        {0.2, [&] { return mk("(sqrt($0).^2)", s, {pos(s, e)}, {Req::Positive}); }},
        {0.2, [&] { return mk("(abs($0).^2)", s, {any(s, e)}, {Req::Kink}); }},
        {0.2, [&] { return mk("diag(diag($0))", s, {any(s, e)}); }},
        {0.8, [&] { return mk("diag($0)", s, {any({s.r, D::One}, e)}); }},
        {0.2, [&] { return mk("diag($0)", s, {any({D::One, s.r}, e)}); }},
        {0.3, [&] { return mk("($0*" + I + ")", s, {any({D::One, D::One}, e)}); }},
        {0.4, [&] { return mk("(" + (rng_.chance(0.5) ? I_text(s.r) : I) + " + $0)", s, {any(s, e)}); }},
        {0.2, [&] { return mk("($0 - zeros(" + std::string(dim_text(s.r)) + "," + dim_text(s.r) + "))", s, {any(s, e)}); }},
        {0.6, [&] { return spd(s.r, e); }},
        {0.3, [&] { return mk("($0*inv($1)*$2)", s, {any(s, e), pd(s.r, e), any(s, e)}); }},
    };
    cs.insert(cs.end(), more.begin(), more.end());
    if (s.r == D::N)
      cs.push_back({0.3, [&] { return mk("reshape($0, n, n)", s, {longv(D::NN, e)}); }});
  }
  if (s == PShape{D::N, D::K})
    cs.push_back({0.3, [&] { return mk("reshape($0, n, k)", s, {longv(D::NK, e)}); }});
  if (s == PShape{D::K, D::N})
    cs.push_back({0.3, [&] { return mk("reshape($0, k, n)", s, {longv(D::NK, e)}); }});
  return pick(rng_, cs);
}

// ------------------------------------------------------------------ pos

GNodeP Generator::pos(PShape s, int d) {
  const PShape one{D::One, D::One};
  if (d <= 0) {
    if (s.scalar() && rng_.chance(0.4)) return mk(kLiterals[rng_.below(5)], s);
    return mk("exp($0)", s, {leaf(s)});
  }
  const int e = d - 1;
  const std::string o = ones_text(s);
  const char* c = kPositiveCoefs[rng_.below(3)];
  std::vector<Choice> cs = {
      {2, [&] { return mk("exp($0)", s, {bnd(s, e)}); }},
      {0.3, [&] { return mk("exp($0)", s, {any(s, e)}); }},
      {2, [&] {
         return mk(s.scalar() ? std::string("($0^2 + ") + c + ")" : "($0.^2 + " + std::string(c) + "*" + o + ")", s,
                   {any(s, e)});
       }},
      {0.6, [&] { return mk(s.scalar() ? std::string("($0 .* $0 + ") + c + ")" : "($0 .* $0 + " + o + ")", s, {any(s, e)}); }},
      {1, [&] { return mk("sigmoid($0)", s, {any(s, e)}); }},
      {1, [&] { return mk("softplus($0)", s, {any(s, e)}); }},
      {1, [&] { return mk("($0 + $1)", s, {pos(s, e), pos(s, e)}); }},
      {1, [&] { return mk("($0 .* $1)", s, {pos(s, e), pos(s, e)}); }},
      {0.5, [&] { return mk("($0 ./ $1)", s, {pos(s, e), pos(s, e)}, {Req::None, Req::Positive}); }},
      {1, [&] { return mk("($0*$1)", s, {pos(one, e), pos(s, e)}); }},
      {0.5, [&] { return mk("sqrt($0)", s, {pos(s, e)}, {Req::Positive}); }},
      {0.3, [&] { return mk(s.scalar() ? "$0^1.5" : "$0.^1.5", s, {pos(s, e)}, {Req::Positive}); }},
      {0.3, [&] { return mk(s.scalar() ? "(abs($0) + 1)" : "(abs($0) + " + o + ")", s, {any(s, e)}, {Req::Kink}); }},
      {0.3, [&] { return mk(s.scalar() ? "(relu($0) + 0.5)" : "(relu($0) + 0.5*" + o + ")", s, {any(s, e)}, {Req::Kink}); }},
  };
  if (s.scalar()) {
    std::vector<Choice> more = {
        {0.6, [&] { return mk("det($0)", s, {pd(rng_.chance(0.5) ? D::N : D::K, e)}); }},
        {0.6, [&] { return mk("tr($0)", s, {spd(rng_.chance(0.5) ? D::N : D::K, e)}); }},
        {0.5, [&] { D m = rng_.chance(0.5) ? D::N : D::K; return mk("norm2($0)", s, {any({m, inner()}, e)}, {Req::NormKink}); }},
        {0.4, [&] { D m = rng_.chance(0.5) ? D::N : D::K; return mk("sum($0)", s, {pos({m, inner()}, e)}); }},
        {0.5, [&] { D m = rng_.chance(0.5) ? D::N : D::K;
                    return mk(std::string("($0'*$1*$0 + ") + c + ")", s, {any({m, D::One}, e), spd(m, e)}); }},
        {0.3, [&] { D m = rng_.chance(0.5) ? D::N : D::K; return mk("(norm1($0) + 0.5)", s, {any({m, D::One}, e)}, {Req::Kink}); }},
    };
    cs.insert(cs.end(), more.begin(), more.end());
  }
  if (s.c == D::One && !s.scalar())
    cs.push_back({0.6, [&] { return mk("softmax($0)", s, {any(s, e)}, {Req::Moderate}); }});
  return pick(rng_, cs);
}

// ------------------------------------------------------------------ bnd

GNodeP Generator::bnd(PShape s, int d) {
  if (d <= 0) return leaf(s);
  const int e = d - 1;
  std::vector<Choice> cs = {
      {1.5, [&] { return leaf(s); }},
      {1, [&] { return mk("tanh($0)", s, {any(s, e)}); }},
      {1, [&] { return mk("sin($0)", s, {any(s, e)}); }},
      {1, [&] { return mk("cos($0)", s, {any(s, e)}); }},
      {1, [&] { return mk("sigmoid($0)", s, {any(s, e)}); }},
      {0.5, [&] { return mk("(0.5*$0)", s, {bnd(s, e)}); }},
      {0.5, [&] { return mk("($0 - $1)", s, {bnd(s, e), bnd(s, e)}); }},
      {0.5, [&] { return mk("($0 .* $1)", s, {bnd(s, e), bnd(s, e)}); }},
  };
  if (s.c == D::One && !s.scalar()) cs.push_back({0.5, [&] { return mk("softmax($0)", s, {any(s, e)}, {Req::Moderate}); }});
  return pick(rng_, cs);
}

// ------------------------------------------------------------------ spd / pd

GNodeP Generator::spd(D n, int d) {
  if (n == D::One) return pos({D::One, D::One}, d);  // a 1 x 1 SPD matrix is a positive number
  const PShape s{n, n};
  const std::string I = eye_text(n);
  const GNodeP sym_leaf = mk(n == D::N ? "S" : "T", s);
  if (d <= 0) {
    if (rng_.chance(0.7)) return sym_leaf;
    return mk("($0*$0' + " + I + ")", s, {leaf({n, inner()})});
  }
  const int e = d - 1;
  const char* c = kPositiveCoefs[rng_.below(3)];
  std::vector<Choice> cs = {
      {2, [&] { return sym_leaf; }},
      {3, [&] { return mk("($0*$0' + " + std::string(c) + "*" + (rng_.chance(0.5) ? I_text(n) : I) + ")", s, {any({n, inner()}, e)}); }},
      {1, [&] { return mk("($0'*$0 + " + std::string(c) + "*" + I + ")", s, {any({inner(), n}, e)}); }},
      {1, [&] { return mk("($0 + $1)", s, {spd(n, e), spd(n, e)}); }},
      {0.5, [&] { return mk(std::string("(") + c + "*$0)", s, {spd(n, e)}); }},
      {0.5, [&] { return mk("($0*$1)", s, {pos({D::One, D::One}, e), spd(n, e)}); }},
      {0.6, [&] { return mk("inv($0)", s, {spd(n, e)}); }},
      {0.3, [&] { return mk("$0^2", s, {spd(n, e)}); }},
      {0.2, [&] { return mk("$0^-1", s, {spd(n, e)}); }},
      {0.6, [&] { return mk("diag($0)", s, {pos({n, D::One}, e)}); }},
      {0.6, [&] { D m = inner(); return mk("($0'*$1*$0 + " + I + ")", s, {any({m, n}, e), spd(m, e)}); }},
      {0.3, [&] { return mk("sym($0)", s, {pd(n, e)}); }},
  };
  return pick(rng_, cs);
}

GNodeP Generator::pd(D n, int d) {
  if (n == D::One) return pos({D::One, D::One}, d);
  const PShape s{n, n};
  if (d <= 0) return spd(n, d);
  const int e = d - 1;
  std::vector<Choice> cs = {
      {3, [&] { return spd(n, d); }},
      {1.5, [&] { return mk("($0 + $1 - $1')", s, {spd(n, e), any(s, e)}); }},
      {0.3, [&] { return mk("inv($0)", s, {pd(n, e)}); }},
      {0.3, [&] { return mk("$0'", s, {pd(n, e)}); }},
      {0.3, [&] { return mk("($0*$1)", s, {pd(n, e), pd(n, e)}); }},
  };
  return pick(rng_, cs);
}

// ------------------------------------------------------------------ vec / kron

GNodeP Generator::longv(D len, int d) {
  const PShape s{len, D::One};
  auto kron_args = [&](int e) -> std::vector<GNodeP> {
    if (len == D::NN) return {any({D::N, D::One}, e), any({D::N, D::One}, e)};
    if (rng_.chance(0.5)) return {any({D::N, D::One}, e), any({D::K, D::One}, e)};
    return {any({D::K, D::One}, e), any({D::N, D::One}, e)};
  };
  auto vec_arg = [&](int e) -> GNodeP {
    if (len == D::NN) return any({D::N, D::N}, e);
    return any(rng_.chance(0.5) ? PShape{D::N, D::K} : PShape{D::K, D::N}, e);
  };
  if (d <= 0) {
    std::vector<GNodeP> ls = leaves(s);
    return ls[rng_.below(ls.size())];
  }
  const int e = d - 1;
  std::vector<Choice> cs = {
      {2, [&] { return mk("vec($0)", s, {vec_arg(e)}); }},
      {2, [&] { return mk("kron($0, $1)", s, kron_args(e)); }},
      {1, [&] { return mk("($0 + $1)", s, {longv(len, e), longv(len, e)}); }},
      {1, [&] { return mk("($0*$1)", s, {any({D::One, D::One}, e), longv(len, e)}); }},
      {0.7, [&] { return mk("($0 .* $1)", s, {longv(len, e), longv(len, e)}); }},
      {0.5, [&] { return mk("sin($0)", s, {longv(len, e)}); }},
      {0.5, [&] { return mk("exp($0)", s, {longv(len, e)}); }},
      {0.5, [&] { return mk("softmax($0)", s, {longv(len, e)}, {Req::Moderate}); }},
      {0.3, [&] { return mk("abs($0)", s, {longv(len, e)}, {Req::Kink}); }},
  };
  return pick(rng_, cs);
}

}  // namespace matcalc::prop
