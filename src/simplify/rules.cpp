// The rewrite-rule table and its matcher. One row per identity; the tests in
// tests/rules evaluate both sides of every row on random inputs. The rows
// are text, compiled once into pattern trees and replacement templates when
// the table is first used (rules.hpp).
#include "simplify/rules.hpp"

#include <optional>
#include <stdexcept>
#include <string_view>

#include "ir/builders.hpp"
#include "ir/domain.hpp"
#include "ir/error.hpp"
#include "parse/ast.hpp"
#include "parse/parser.hpp"

namespace matcalc {

namespace {

// name, pattern, replacement, guards, shapes for the numeric test, reference, domain
const RuleText kRows[] = {
    {"log-of-det", "log(det(A))", "logdet(A)", {"square(A)"}, "A: matrix(n,n)", "", "both sides need det(A) > 0"},
    {"logdet-of-inverse", "logdet(inv(A))", "-logdet(A)", {}, "A: matrix(n,n)", "", "both sides need det(A) > 0"},
    {"det-of-inverse",
     "det(inv(A))",
     "1/det(A)",
     {"invertible(A)"},
     "A: matrix(n,n)",
     "",
     "the left side needs A invertible (as inv checks it: well-conditioned), the right side only det(A) != 0"},
    {"inverse-times-self",
     "inv(A)*A",
     "eye(n)",
     {"invertible(A)"},
     "A: matrix(n,n)",
     "",
     "the left side needs A invertible, the right side nothing"},
    {"self-times-inverse",
     "A*inv(A)",
     "eye(n)",
     {"invertible(A)"},
     "A: matrix(n,n)",
     "",
     "the left side needs A invertible, the right side nothing"},
    {"log-of-exp", "log(exp(a))", "a", {}, "a: matrix(n,k)", "", "every a"},
    {"exp-of-log",
     "exp(log(a))",
     "a",
     {"positive(a)"},
     "a: matrix(n,k)",
     "",
     "the left side needs a > 0, the right side nothing"},
    {"sqrt-squared",
     "sqrt(a)^2",
     "a",
     {"scalar(a)", "nonneg(a)"},
     "a: scalar",
     "",
     "the left side needs a >= 0, the right side nothing"},
    {"sqrt-squared-elementwise",
     "sqrt(A).^2",
     "A",
     {"nonneg(A)"},
     "A: matrix(n,k)",
     "",
     "the left side needs A >= 0 entrywise, the right side nothing"},
    {"sqrt-of-square", "sqrt(a^2)", "abs(a)", {"scalar(a)"}, "a: scalar", "", "every a"},
    {"abs-squared", "abs(a)^2", "a^2", {"scalar(a)"}, "a: scalar", "", "every a"},
    {"abs-squared-elementwise", "abs(A).^2", "A.^2", {}, "A: matrix(n,k)", "", "every A"},
    {"norm2-squared-vector", "norm2(x)^2", "x'*x", {"vector(x)"}, "x: vector(n)", "", "every x"},
    {"norm2-squared-matrix", "norm2(A)^2", "tr(A'*A)", {"matrix(A)"}, "A: matrix(n,k)", "", "every A"},
    {"sum-of-hadamard-vectors",
     "sum(x .* y)",
     "x'*y",
     {"vector(x)", "vector(y)"},
     "x: vector(n); y: vector(n)",
     "",
     "every x and y"},
    {"trace-of-sym", "tr(sym(A))", "tr(A)", {}, "A: matrix(n,n)", "", "every A"},
    {"frobenius-with-sym",
     "tr(S*sym(A))",
     "tr(S*A)",
     {"symmetric(S)"},
     "S: symmetric(n); A: matrix(n,n)",
     "",
     "every S and A"},
    {"sym-of-transpose", "sym(A')", "sym(A)", {}, "A: matrix(n,n)", "", "every A"},
    // The softmax cross-entropy's gradient meets it: softmax(l)'*(t ./ softmax(l)) = sum(t).
    {"inner-product-with-quotient",
     "x'*(y ./ x)",
     "sum(y)",
     {"vector(x)", "positive(x)"},
     "x: vector(n); y: vector(n)",
     "",
     "the left side needs x without a zero entry, the right side nothing"},
};

// ------------------------------------------------------------ compiling

// Compiles one row; every failure names the rule.
class RuleCompiler {
 public:
  explicit RuleCompiler(const std::string& rule) : rule_(rule) {}

  PatternNode pattern(const Ast& a) {
    PatternNode p;
    switch (a.kind) {
      case Ast::Kind::Number:
        p.kind = PatternNode::Kind::Const;
        p.value = a.number;
        return p;
      case Ast::Kind::Name:
        if (a.text == "I") {
          p.kind = PatternNode::Kind::Identity;
          return p;
        }
        p.kind = PatternNode::Kind::Var;
        p.var = slot(a.text);
        if (p.var < 0) {
          if (static_cast<int>(vars_.size()) == kMaxRuleVariables)
            fail("the pattern binds more than " + std::to_string(kMaxRuleVariables) + " variables");
          p.var = static_cast<int>(vars_.size());
          vars_.push_back(a.text);
        }
        return p;
      case Ast::Kind::Transpose: p.op = Op::Transpose; break;
      case Ast::Kind::Call: {
        p.op = call(a, "pattern");
        if (op_class(p.op) == OpClass::Leaf) fail("a pattern cannot hold " + a.text + "(...): write I");
        break;
      }
      case Ast::Kind::Power:  // `^` in a pattern is the scalar power only, never X^k
        p.op = a.text == ".^" ? Op::ElemPow : Op::Pow;
        break;
      case Ast::Kind::Chain:
        for (std::size_t i = 2; i < a.ops.size(); ++i)
          if (a.ops[i] != a.ops[1]) fail("a pattern chain mixes " + a.ops[1] + " and " + a.ops[i]);
        if (a.ops[1] == "*")
          p.op = Op::Mul;
        else if (a.ops[1] == ".*")
          p.op = Op::ElemMul;
        else if (a.ops[1] == "./" && a.kids.size() == 2)  // a quotient matches its two arguments
          p.op = Op::ElemDiv;
        else
          fail("a pattern cannot hold " + a.ops[1] + " (only products and a quotient of two match)");
        break;
      case Ast::Kind::Neg: fail("a pattern cannot hold a negation (patterns are in normal form)");
    }
    for (const auto& k : a.kids) p.kids.push_back(pattern(*k));
    return p;
  }

  TemplateNode replacement(const Ast& a) {
    using K = TemplateNode::Kind;
    TemplateNode t;
    switch (a.kind) {
      case Ast::Kind::Number:
        t.kind = K::Const;
        t.value = a.number;
        return t;
      case Ast::Kind::Name:
        if (a.text == "I") {
          t.kind = K::Identity;
          uses_identity_ = true;
          return t;
        }
        t.kind = K::Var;
        t.var = slot(a.text);
        if (t.var < 0) fail("replacement uses unbound variable " + a.text);
        return t;
      case Ast::Kind::Neg: t.kind = K::Neg; break;
      case Ast::Kind::Transpose: t.kind = K::Transpose; break;
      case Ast::Kind::Power: t.kind = a.text == ".^" ? K::ElemPower : K::Power; break;
      case Ast::Kind::Chain: {
        // a op1 b op2 c ... as a left fold, as the typechecker reads it.
        TemplateNode acc = replacement(*a.kids[0]);
        for (std::size_t i = 1; i < a.kids.size(); ++i) {
          TemplateNode step;
          step.kind = chain_kind(a.ops[i]);
          step.kids.push_back(std::move(acc));
          step.kids.push_back(replacement(*a.kids[i]));
          acc = std::move(step);
        }
        return acc;
      }
      case Ast::Kind::Call:
        if (a.text == "eye") {  // sized by the match, whatever its argument says
          t.kind = K::Identity;
          uses_identity_ = true;
          return t;
        }
        t.kind = K::Apply;
        t.op = call(a, "replacement");
        if (op_class(t.op) == OpClass::Leaf || t.op == Op::Reshape)
          fail("a replacement cannot build " + a.text + "(...)");
        break;
    }
    for (const auto& k : a.kids) t.kids.push_back(replacement(*k));
    return t;
  }

  Guard guard(const std::string& g) {
    if (g == "never") return {GuardKind::Never, -1};
    auto open = g.find('(');
    if (open == std::string::npos || open == 0 || g.size() < open + 3 || g.back() != ')')
      fail("malformed guard \"" + g + "\" (want pred(var) or never)");
    std::string_view pred(g.data(), open);
    std::string var = g.substr(open + 1, g.size() - open - 2);
    Guard out;
    if (pred == "symmetric")
      out.kind = GuardKind::Symmetric;
    else if (pred == "square")
      out.kind = GuardKind::Square;
    else if (pred == "scalar")
      out.kind = GuardKind::Scalar;
    else if (pred == "vector")
      out.kind = GuardKind::Vector;
    else if (pred == "matrix")
      out.kind = GuardKind::Matrix;
    else if (pred == "positive")
      out.kind = GuardKind::Positive;
    else if (pred == "nonneg")
      out.kind = GuardKind::Nonneg;
    else if (pred == "invertible")
      out.kind = GuardKind::Invertible;
    else
      fail("unknown guard \"" + g + "\"");
    out.var = slot(var);
    if (out.var < 0) fail("guard \"" + g + "\" names " + var + ", which the pattern does not bind");
    return out;
  }

  std::vector<std::string> take_variables() { return std::move(vars_); }
  bool uses_identity() const { return uses_identity_; }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw std::logic_error("rule " + rule_ + ": " + why); }

  int slot(const std::string& name) const {
    for (std::size_t i = 0; i < vars_.size(); ++i)
      if (vars_[i] == name) return static_cast<int>(i);
    return -1;
  }

  Op call(const Ast& a, const char* where) const {
    auto op = call_op(a.text);
    if (!op) fail(std::string(where) + " uses unsupported call " + a.text);
    int arity = op_arity(*op);
    if (arity >= 0 && static_cast<int>(a.kids.size()) != arity)
      fail(std::string(where) + " calls " + a.text + " with " + std::to_string(a.kids.size()) + " arguments");
    return *op;
  }

  TemplateNode::Kind chain_kind(const std::string& op) const {
    using K = TemplateNode::Kind;
    if (op == "+") return K::Add;
    if (op == "-") return K::Sub;
    if (op == "*") return K::Mul;
    if (op == "/") return K::Div;
    if (op == ".*") return K::Hadamard;
    if (op == "./") return K::EDiv;
    if (op == ":") return K::Frobenius;
    fail("replacement uses unknown operator " + op);
  }

  const std::string& rule_;
  std::vector<std::string> vars_;
  bool uses_identity_ = false;
};

RewriteRule compile_rule(const RuleText& row) {
  RewriteRule r{row.name, row.pattern, row.replacement, row.guards, row.declarations, row.reference, row.domain, {}, {},
                {},       {},          false,           false};
  RuleCompiler c(r.name);
  if (r.domain.empty()) throw std::logic_error("rule " + r.name + ": no domain (say where each side is defined)");
  auto parse = [&](const std::string& text, const char* side) {
    try {
      return parse_expression(text);
    } catch (const Error& e) {
      throw std::logic_error("rule " + r.name + ": " + side + " \"" + text + "\" does not parse: " + e.what());
    }
  };
  r.lhs = c.pattern(*parse(r.pattern, "pattern"));
  r.rhs = c.replacement(*parse(r.replacement, "replacement"));
  for (const auto& g : r.guards) r.checks.push_back(c.guard(g));
  r.variables = c.take_variables();
  r.window = r.lhs.kind == PatternNode::Kind::Node && r.lhs.op == Op::Mul;
  r.sized_by_match = c.uses_identity();
  return r;
}

// ------------------------------------------------------------ matching

using Slots = std::array<Expr, kMaxRuleVariables>;

bool op_accepts(Op pattern, Op node) { return node == pattern || (pattern == Op::Diag && node == Op::DiagPart); }

bool match(const PatternNode& p, Expr e, Slots& s);

bool match_kids(const std::vector<PatternNode>& ps, std::span<const Expr> es, Slots& s) {
  if (ps.size() != es.size()) return false;
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (!match(ps[i], es[i], s)) return false;
  return true;
}

// No backtracking: a pattern has one way to match, so a failure anywhere is
// a failure of the whole, and the caller clears the slots before a retry.
bool match(const PatternNode& p, Expr e, Slots& s) {
  switch (p.kind) {
    case PatternNode::Kind::Var: {
      Expr& bound = s[static_cast<std::size_t>(p.var)];
      if (!bound) {
        bound = e;
        return true;
      }
      return bound == e;
    }
    case PatternNode::Kind::Const: return e->op == Op::Const && e->value == p.value;
    case PatternNode::Kind::Identity: return e->op == Op::Identity;
    case PatternNode::Kind::Node:
      // A' also matches f(B'), an elementwise function of a transpose, with
      // A = f(B): the builders push the transpose inside (f(B)' = f(B')).
      if (p.op == Op::Transpose && p.kids[0].kind == PatternNode::Kind::Var && elementwise_fn(e->op) &&
          e->kid(0)->op == Op::Transpose)
        return match(p.kids[0], transpose(e), s);
      return op_accepts(p.op, e->op) && match_kids(p.kids, e->kids, s);
  }
  return false;
}

// The domain condition a guard states, if it is one.
std::optional<Condition> condition_of(GuardKind k) {
  // clang-format off
  switch (k) {
    case GuardKind::Positive: return Condition::Positive;
    case GuardKind::Nonneg: return Condition::Nonneg;
    case GuardKind::Invertible: return Condition::Invertible;
    case GuardKind::Never: case GuardKind::Symmetric: case GuardKind::Square: case GuardKind::Scalar:
    case GuardKind::Vector: case GuardKind::Matrix:
      return std::nullopt;
  }
  // clang-format on
  return std::nullopt;
}

// A structural guard holds or not; a domain guard holds here when the
// matched expression's facts settle it, and is otherwise left for
// domain_kept() to decide on the rewritten expression.
bool holds(const Guard& g, const Slots& s) {
  if (g.kind == GuardKind::Never) return false;  // kept in the book, not applied automatically
  Expr e = s[static_cast<std::size_t>(g.var)];
  switch (g.kind) {
    case GuardKind::Never: return false;
    case GuardKind::Symmetric: return e->symmetric;
    case GuardKind::Square: return e->shape.is_square();
    case GuardKind::Scalar: return e->is_scalar();
    case GuardKind::Vector: return e->shape.is_col();
    case GuardKind::Matrix: return !e->is_scalar() && !e->shape.is_vector_like();
    case GuardKind::Positive:
    case GuardKind::Nonneg:
    case GuardKind::Invertible: return true;
  }
  return false;
}

bool guards_hold(const RewriteRule& r, const Slots& s) {
  for (const Guard& g : r.checks)
    if (!holds(g, s)) return false;
  return true;
}

// Whether a rewrite keeps every domain condition, given what the rewritten
// expression surely needs (`after`): each domain guard is known of the
// matched expression or still needed, and each matched expression that
// carries conditions of its own (A = inv(B) in inv(A)*A) has them still
// needed too, since it may vanish with the rewrite.
bool domain_kept(const RewriteRule& r, const Slots& s, const Requirements& after) {
  for (const Guard& g : r.checks) {
    std::optional<Condition> c = condition_of(g.kind);
    if (!c) continue;
    Expr e = s[static_cast<std::size_t>(g.var)];
    if (!known(*c, e) && !after.has(*c, e)) return false;
  }
  for (std::size_t v = 0; v < r.variables.size(); ++v)
    if (Expr e = s[v]; e && e->restricted && !conditions_covered(e, after)) return false;
  return true;
}

// Builds the replacement with the builders; `like` gives the size of `I`.
Expr instantiate(const TemplateNode& t, const Slots& s, Expr like) {
  using K = TemplateNode::Kind;
  // The arguments first, left to right (the builders intern in call order).
  std::vector<Expr> k;
  k.reserve(t.kids.size());
  for (const TemplateNode& kid : t.kids) k.push_back(instantiate(kid, s, like));
  switch (t.kind) {
    case K::Var: return s[static_cast<std::size_t>(t.var)];
    case K::Const: return constant(*like->ctx, t.value);
    case K::Identity: return identity(*like->ctx, like->shape.rows);
    case K::Neg: return neg(k[0]);
    case K::Transpose: return transpose(k[0]);
    case K::Power: return k[0]->is_scalar() ? pow(k[0], k[1]) : matpow(k[0], static_cast<long long>(k[1]->value));
    case K::ElemPower: return epow(k[0], k[1]);
    case K::Add: return add(k[0], k[1]);
    case K::Sub: return sub(k[0], k[1]);
    case K::Mul: return mul(k[0], k[1]);
    case K::Div: return div(k[0], k[1]);
    case K::Hadamard: return hadamard(k[0], k[1]);
    case K::EDiv: return ediv(k[0], k[1]);
    case K::Frobenius: return frobenius(k[0], k[1]);
    case K::Apply: return apply(t.op, std::move(k));
  }
  return like;
}

}  // namespace

bool pattern_accepts(const PatternNode& p, Op op) {
  switch (p.kind) {
    case PatternNode::Kind::Var: return true;
    case PatternNode::Kind::Const: return op == Op::Const;
    case PatternNode::Kind::Identity: return op == Op::Identity;
    case PatternNode::Kind::Node: return op_accepts(p.op, op);
  }
  return false;
}

RuleTable::RuleTable(std::span<const RuleText> rows) {
  rules_.reserve(rows.size());
  for (const RuleText& row : rows) rules_.push_back(compile_rule(row));
  for (std::size_t i = 0; i < rules_.size(); ++i)
    for (int o = 0; o < kOpCount; ++o)
      if (pattern_accepts(rules_[i].lhs, op_at(o))) by_root_[static_cast<std::size_t>(o)].push_back(i);
}

std::span<const RuleText> rule_texts() { return kRows; }

const RuleTable& rule_table() {
  static const RuleTable table(kRows);
  return table;
}

const std::vector<RewriteRule>& rewrite_rules() { return rule_table().rules(); }

std::optional<Expr> apply_rule(const RewriteRule& r, Expr e) {
  // A product pattern matches a run of adjacent factors of a longer product.
  std::size_t w = r.lhs.kids.size();
  if (r.window && e->op == Op::Mul && e->kids.size() > w) {
    for (std::size_t i = 0; i + w <= e->kids.size(); ++i) {
      Slots s{};
      std::span<const Expr> run(e->kids.data() + i, w);
      if (!match_kids(r.lhs.kids, run, s) || !guards_hold(r, s)) continue;
      // Only I needs the run as one product (for its size).
      Expr like = r.sized_by_match ? mul(std::vector<Expr>(run.begin(), run.end())) : e;
      Expr replaced = instantiate(r.rhs, s, like);
      std::vector<Expr> kids;
      kids.reserve(e->kids.size() - w + 1);
      kids.insert(kids.end(), e->kids.begin(), e->kids.begin() + static_cast<long>(i));
      kids.push_back(replaced);
      kids.insert(kids.end(), e->kids.begin() + static_cast<long>(i + w), e->kids.end());
      // What the new product needs: its factors' needs (before building it).
      Requirements after;
      for (Expr k : kids) after.add(k);
      if (!domain_kept(r, s, after)) continue;
      return mul(std::move(kids));
    }
    return std::nullopt;
  }
  Slots s{};
  if (!match(r.lhs, e, s) || !guards_hold(r, s)) return std::nullopt;
  Expr out = instantiate(r.rhs, s, e);
  Requirements after;
  after.add(out);
  if (!domain_kept(r, s, after)) return std::nullopt;
  return out;
}

}  // namespace matcalc
