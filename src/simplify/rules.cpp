// The rewrite-rule table and its matcher. One row per identity; the tests in
// tests/rules evaluate both sides of every row on random inputs.
#include "simplify/rules.hpp"

#include <functional>
#include <set>
#include <stdexcept>

#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/parser.hpp"

namespace matcalc {

namespace {

struct RuleRow {
  const char* name;
  const char* pattern;
  const char* replacement;
  std::vector<std::string> guards;
  const char* declarations;
  const char* reference;
};

// name, pattern, replacement, guards, shapes for the numeric test, reference
const RuleRow kRows[] = {
    {"log-of-det", "log(det(A))", "logdet(A)", {"square(A)"}, "A: matrix(n,n)", ""},
    {"logdet-of-inverse", "logdet(inv(A))", "-logdet(A)", {}, "A: matrix(n,n)", ""},
    {"det-of-inverse", "det(inv(A))", "1/det(A)", {}, "A: matrix(n,n)", ""},
    {"inverse-times-self", "inv(A)*A", "eye(n)", {}, "A: matrix(n,n)", ""},
    {"self-times-inverse", "A*inv(A)", "eye(n)", {}, "A: matrix(n,n)", ""},
    {"log-of-exp", "log(exp(a))", "a", {}, "a: matrix(n,k)", ""},
    {"exp-of-log", "exp(log(a))", "a", {}, "a: matrix(n,k)", ""},
    {"sqrt-squared", "sqrt(a)^2", "a", {"scalar(a)"}, "a: scalar", ""},
    {"sqrt-squared-elementwise", "sqrt(A).^2", "A", {}, "A: matrix(n,k)", ""},
    {"sqrt-of-square", "sqrt(a^2)", "abs(a)", {"scalar(a)"}, "a: scalar", ""},
    {"abs-squared", "abs(a)^2", "a^2", {"scalar(a)"}, "a: scalar", ""},
    {"abs-squared-elementwise", "abs(A).^2", "A.^2", {}, "A: matrix(n,k)", ""},
    {"norm2-squared-vector", "norm2(x)^2", "x'*x", {"vector(x)"}, "x: vector(n)", ""},
    {"norm2-squared-matrix", "norm2(A)^2", "tr(A'*A)", {"matrix(A)"}, "A: matrix(n,k)", ""},
    {"sum-of-hadamard-vectors", "sum(x .* y)", "x'*y", {"vector(x)", "vector(y)"}, "x: vector(n); y: vector(n)", ""},
    {"trace-of-sym", "tr(sym(A))", "tr(A)", {}, "A: matrix(n,n)", ""},
    {"frobenius-with-sym", "tr(S*sym(A))", "tr(S*A)", {"symmetric(S)"}, "S: symmetric(n); A: matrix(n,n)", ""},
    {"sym-of-transpose", "sym(A')", "sym(A)", {}, "A: matrix(n,n)", ""},
};

bool guard_holds(const std::string& g, const std::map<std::string, Expr>& b) {
  auto open = g.find('(');
  std::string pred = g.substr(0, open);
  if (pred == "never") return false;  // kept in the book, not applied automatically
  std::string var = g.substr(open + 1, g.size() - open - 2);
  Expr e = b.at(var);
  if (pred == "symmetric") return e->symmetric;
  if (pred == "square") return e->shape.is_square();
  if (pred == "scalar") return e->is_scalar();
  if (pred == "vector") return e->shape.is_col();
  if (pred == "matrix") return !e->is_scalar() && !e->shape.is_vector_like();
  throw std::logic_error("unknown guard " + g);
}

void collect_vars(const Ast& a, std::set<std::string>& out) {
  if (a.kind == Ast::Kind::Name && a.text != "I") out.insert(a.text);
  if (a.kind == Ast::Kind::Call && (a.text == "ones" || a.text == "zeros" || a.text == "eye")) return;
  for (const auto& k : a.kids) collect_vars(*k, out);
}

Op pattern_call_op(const std::string& f) {
  if (auto op = call_op(f)) return *op;
  throw std::logic_error("pattern uses unsupported call " + f);
}

using Bindings = std::map<std::string, Expr>;

bool match(const Ast& p, Expr e, Bindings& b);

bool match_all(const std::vector<AstPtr>& ps, std::span<const Expr> es, Bindings& b) {
  if (ps.size() != es.size()) return false;
  Bindings saved = b;
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (!match(*ps[i], es[i], b)) {
      b = saved;
      return false;
    }
  return true;
}

bool match(const Ast& p, Expr e, Bindings& b) {
  switch (p.kind) {
    case Ast::Kind::Number:
      return e->op == Op::Const && e->value == p.number;
    case Ast::Kind::Name: {
      if (p.text == "I") return e->op == Op::Identity;
      auto it = b.find(p.text);
      if (it != b.end()) return it->second == e;
      b[p.text] = e;
      return true;
    }
    case Ast::Kind::Transpose:
      return e->op == Op::Transpose && match(*p.kids[0], e->kid(0), b);
    case Ast::Kind::Call: {
      Op op = pattern_call_op(p.text);
      bool ok = e->op == op || (op == Op::Diag && e->op == Op::DiagPart);
      return ok && match_all(p.kids, e->kids, b);
    }
    case Ast::Kind::Power: {  // `^` in a pattern is the scalar power only, never X^k
      Op op = p.text == ".^" ? Op::ElemPow : Op::Pow;
      return e->op == op && match_all(p.kids, e->kids, b);
    }
    case Ast::Kind::Chain: {
      const std::string& op = p.ops[1];
      if (op == "*" && e->op == Op::Mul) return match_all(p.kids, e->kids, b);
      if (op == ".*" && e->op == Op::ElemMul) return match_all(p.kids, e->kids, b);
      return false;
    }
    case Ast::Kind::Neg:
      return false;
  }
  return false;
}

// Builds the replacement with the builders; `like` gives the shape of `I`.
Expr instantiate(const Ast& a, const Bindings& b, Expr like) {
  Context& cx = *like->ctx;
  switch (a.kind) {
    case Ast::Kind::Number: return constant(cx, a.number);
    case Ast::Kind::Name:
      if (a.text == "I" && !b.count("I")) return identity(cx, like->shape.rows);
      return b.at(a.text);
    case Ast::Kind::Neg: return neg(instantiate(*a.kids[0], b, like));
    case Ast::Kind::Transpose: return transpose(instantiate(*a.kids[0], b, like));
    case Ast::Kind::Power: {
      Expr base = instantiate(*a.kids[0], b, like), ex = instantiate(*a.kids[1], b, like);
      if (a.text == ".^") return epow(base, ex);
      return base->is_scalar() ? pow(base, ex) : matpow(base, static_cast<long long>(ex->value));
    }
    case Ast::Kind::Chain: {
      Expr acc = instantiate(*a.kids[0], b, like);
      for (std::size_t i = 1; i < a.kids.size(); ++i) {
        Expr r = instantiate(*a.kids[i], b, like);
        const std::string& op = a.ops[i];
        if (op == "+") acc = add(acc, r);
        else if (op == "-") acc = sub(acc, r);
        else if (op == "*") acc = mul(acc, r);
        else if (op == "/") acc = div(acc, r);
        else if (op == ".*") acc = hadamard(acc, r);
        else if (op == "./") acc = ediv(acc, r);
        else acc = frobenius(acc, r);
      }
      return acc;
    }
    case Ast::Kind::Call: {
      if (a.text == "eye") return identity(cx, like->shape.rows);  // sized by the match
      std::vector<Expr> kids;
      for (const auto& k : a.kids) kids.push_back(instantiate(*k, b, like));
      return apply(pattern_call_op(a.text), std::move(kids));
    }
  }
  return like;
}

}  // namespace

const std::vector<RewriteRule>& rewrite_rules() {
  static const std::vector<RewriteRule> rules = [] {
    std::vector<RewriteRule> out;
    for (const RuleRow& row : kRows) {
      RewriteRule r{row.name, row.pattern, row.replacement, row.guards, row.declarations, row.reference,
                    parse_expression(row.pattern), parse_expression(row.replacement)};
      std::set<std::string> bound, used;
      collect_vars(*r.lhs, bound);
      collect_vars(*r.rhs, used);
      for (const auto& v : used)
        if (!bound.count(v))
          throw std::logic_error("rule " + r.name + ": replacement uses unbound variable " + v);
      out.push_back(std::move(r));
    }
    return out;
  }();
  return rules;
}

std::optional<Expr> apply_rule(const RewriteRule& r, Expr e) {
  const Ast& p = *r.lhs;
  // A product pattern matches a run of adjacent factors of a longer product.
  if (p.kind == Ast::Kind::Chain && p.ops[1] == "*" && e->op == Op::Mul && e->kids.size() > p.kids.size()) {
    std::size_t w = p.kids.size();
    for (std::size_t i = 0; i + w <= e->kids.size(); ++i) {
      Bindings b;
      if (!match_all(p.kids, std::span<const Expr>(e->kids.data() + i, w), b)) continue;
      bool ok = true;
      for (const auto& g : r.guards) ok = ok && guard_holds(g, b);
      if (!ok) continue;
      std::vector<Expr> window(e->kids.begin() + static_cast<long>(i), e->kids.begin() + static_cast<long>(i + w));
      Expr replaced = instantiate(*r.rhs, b, mul(window));
      std::vector<Expr> kids(e->kids.begin(), e->kids.begin() + static_cast<long>(i));
      kids.push_back(replaced);
      kids.insert(kids.end(), e->kids.begin() + static_cast<long>(i + w), e->kids.end());
      return mul(std::move(kids));
    }
    return std::nullopt;
  }
  Bindings b;
  if (!match(p, e, b)) return std::nullopt;
  for (const auto& g : r.guards)
    if (!guard_holds(g, b)) return std::nullopt;
  return instantiate(*r.rhs, b, e);
}

}  // namespace matcalc
