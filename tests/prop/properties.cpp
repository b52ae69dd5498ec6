#include "properties.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "diff/gradient.hpp"
#include "eval/evaluate.hpp"
#include "explain/explain.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "matcalc/matcalc.hpp"
#include "parse/parser.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "rules/oracle.hpp"
#include "simplify/simplify.hpp"

namespace matcalc::prop {

namespace {

// Screening limits: intermediate values at most this large, kink arguments at
// least this far from the kink, positive arguments at least this positive.
constexpr double kMaxMagnitude = 1e5;
constexpr double kKinkDistance = 1e-2;
constexpr double kMinPositive = 1e-3;
constexpr double kModerate = 100;  // exp(-100) is far from underflow

// Tolerances: relative, plus an absolute floor that grows with the largest
// intermediate value (rounding in a sum of large terms).
constexpr double kValueRel = 1e-8, kValueAbs = 1e-10;
constexpr double kGradRel = 1e-5, kGradAbs = 1e-8;
constexpr double kMetaRel = 1e-7, kMetaAbs = 1e-9;
constexpr double kMinRcond = 1e-8;  // screening: conditioning of what is inverted

using Status = Outcome::Status;

bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Identifier tokens of a text.
std::vector<std::string> identifiers(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < text.size();) {
    if (std::isalpha(static_cast<unsigned char>(text[i])) || text[i] == '_') {
      std::size_t j = i;
      while (j < text.size() && is_ident_char(text[j])) ++j;
      out.push_back(text.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(text[i]))) {  // 1e-3: skip the exponent's 'e'
      while (i < text.size() && (is_ident_char(text[i]) || text[i] == '.')) ++i;
    } else {
      ++i;
    }
  }
  return out;
}

// Pool symbols of a text, in pool order.
std::vector<const PoolSymbol*> symbols_in(const std::string& text) {
  std::set<std::string> ids;
  for (auto& s : identifiers(text)) ids.insert(s);
  std::vector<const PoolSymbol*> out;
  for (const auto& p : symbol_pool())
    if (ids.count(p.name)) out.push_back(&p);
  return out;
}

// Replaces every token `name` by `with`.
std::string substitute(const std::string& text, const std::string& name, const std::string& with) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (std::isalpha(static_cast<unsigned char>(text[i])) || text[i] == '_') {
      std::size_t j = i;
      while (j < text.size() && is_ident_char(text[j])) ++j;
      std::string id = text.substr(i, j - i);
      out += id == name ? with : id;
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      std::size_t j = i;
      while (j < text.size() && (is_ident_char(text[j]) || text[j] == '.')) ++j;
      out += text.substr(i, j - i);
      i = j;
    } else {
      out += text[i++];
    }
  }
  return out;
}

double max_abs(const Matrix& m) { return m.size() ? m.cwiseAbs().maxCoeff() : 0.0; }

// ||a - b|| <= rel * max(||a||, ||b||) + abs; the measured error in `err`.
bool close(const Matrix& a, const Matrix& b, double rel, double abs, double* err = nullptr) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) {
    if (err) *err = std::numeric_limits<double>::infinity();
    return false;
  }
  if (!a.allFinite() || !b.allFinite()) {
    if (err) *err = std::numeric_limits<double>::quiet_NaN();
    return false;
  }
  double e = (a - b).norm();
  if (err) *err = e;
  return e <= rel * std::max(a.norm(), b.norm()) + abs;
}

std::string show(const Matrix& m) {
  if (m.size() == 1) return fmt::format("{:.10g}", m(0, 0));
  std::string s = "[";
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    if (i) s += "; ";
    for (Eigen::Index j = 0; j < m.cols(); ++j) s += fmt::format("{}{:.6g}", j ? " " : "", m(i, j));
  }
  return s + "]";
}

Bindings bindings_of(const std::map<std::string, long>& dims, const std::map<std::string, Matrix>& values) {
  Bindings b;
  b.values = values;
  for (const auto& [d, v] : dims) b.dims[d] = v;
  return b;
}

Outcome fail(Property p, std::string detail, std::string wrt = "") {
  return {Status::Fail, p, std::move(wrt), std::move(detail), "", ""};
}
Outcome discard(std::string why) { return {Status::Discard, Property::Engine, "", std::move(why), "", ""}; }

// Central differences of f w.r.t. the symbol `x`, the symmetric convention
// of eval/check.cpp for a symmetric x; with `richardson`, the extrapolation
// (4 D(h/2) - D(h)) / 3, accurate to O(h^4).
Matrix finite_differences(Expr f, Expr x, const Bindings& b, double rel_step, bool richardson) {
  Bindings work = b;
  Matrix& xv = work.values.at(x->name);
  const Matrix x0 = xv;
  const bool sym = x->symmetric && x0.rows() == x0.cols() && x0.rows() > 1;
  auto f_at = [&] { return evaluate(f, work)(0, 0); };
  Matrix g(x0.rows(), x0.cols());
  for (Eigen::Index j = 0; j < x0.cols(); ++j) {
    for (Eigen::Index i = 0; i < x0.rows(); ++i) {
      if (sym && i < j) continue;
      const double xi = x0(i, j);
      auto set = [&](double v) {
        xv(i, j) = v;
        if (sym) xv(j, i) = v;
      };
      auto central = [&](double step) {
        volatile double up = xi + step;
        const double h = up - xi;
        set(xi + h);
        double fp = f_at();
        set(xi - h);
        double fm = f_at();
        set(xi);
        return (fp - fm) / (2 * h);
      };
      const double h = rel_step * std::max(1.0, std::fabs(xi));
      double d = richardson ? (4 * central(h / 2) - central(h)) / 3 : central(h);
      if (sym && i != j)
        g(i, j) = g(j, i) = d / 2;
      else
        g(i, j) = d;
    }
  }
  return g;
}

struct Compiled {
  Context cx;
  TypedProgram p;
  Expr f = nullptr;              // simplify(p.expr)
  std::vector<std::string> vars;  // pool symbols of the text
  std::vector<Expr> xs, grads;
};

void compile_into(Compiled& c, const std::string& text, const std::string& decl, bool with_gradients) {
  TypecheckOptions opt;
  opt.want_scalar = true;
  c.p = compile(c.cx, text, decl, opt);
  c.f = simplify(c.p.expr);
  for (const PoolSymbol* s : symbols_in(text)) {
    c.vars.push_back(s->name);
    c.xs.push_back(c.p.symbols.at(s->name));
  }
  if (with_gradients) c.grads = gradients(c.f, c.xs);
}

Matrix gradient_of(const Compiled& c, const std::string& var, Evaluator& ev, const Matrix& like) {
  for (std::size_t i = 0; i < c.vars.size(); ++i)
    if (c.vars[i] == var) return ev.eval(c.grads[i]);
  return Matrix::Zero(like.rows(), like.cols());
}

std::string gradient_text(const Compiled& c, const std::string& var) {
  for (std::size_t i = 0; i < c.vars.size(); ++i)
    if (c.vars[i] == var) return to_text(c.grads[i]);
  return "0";
}

// to_text, or why there is none (a text too long to print is a Limit error).
std::string safe_text(Expr e) {
  try {
    return to_text(e);
  } catch (const Error& err) {
    return "<no text: " + std::string(err.what()) + ">";
  }
}

// True when `node` occurs in `root`.
bool depends_on_node(Expr root, Expr node) {
  for (Expr n : topo_order(root))
    if (n == node) return true;
  return false;
}

std::string error_text(const Error& e) {
  static const char* kinds[] = {"Syntax", "Name", "Shape", "Inference", "Value",
                                "Domain", "Unsupported", "Limit", "Usage"};
  return std::string(kinds[static_cast<int>(e.kind())]) + " error: " + e.what();
}

// `decl_text`: the declarations of f's symbols (empty: the pool's).
Outcome run_properties(const std::string& f_text, const std::string& f_oracle, const std::string& g_text,
                       const std::map<std::string, long>& dims, const std::map<std::string, Matrix>& values,
                       double magnitude, std::optional<Property> only, const std::string& decl_text = "") {
  auto want = [&](Property p) { return !only || *only == p; };
  const double M = std::max(1.0, magnitude);
  const std::string decl = decl_text.empty() ? declarations_for(f_text) : decl_text;
  const Bindings b = bindings_of(dims, values);

  Compiled c;
  try {
    compile_into(c, f_text, decl, true);
  } catch (const Error& e) {
    return fail(Property::Engine, "compiling f or its gradients: " + error_text(e));
  }
  Evaluator ev(b);
  Outcome passed;  // what a passing case returns

  // idempotent: simplifying again changes nothing, for f and each gradient
  // (each simplify() call with a fresh memo)
  std::vector<std::pair<std::string, Expr>> symbolic{{"compiled f", c.p.expr}, {"simplified f", c.f}};
  for (std::size_t i = 0; i < c.vars.size(); ++i) symbolic.push_back({"gradient w.r.t. " + c.vars[i], c.grads[i]});
  if (want(Property::Idempotent) || want(Property::FixedPoint)) {
    const std::size_t n = symbolic.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (i == 1) continue;  // simplify(compiled f) is the simplified f
      const std::string what = symbolic[i].first;
      const Expr e = symbolic[i].second;
      Expr once = simplify(e), twice = simplify(once);
      if (want(Property::Idempotent) && twice != once)
        return fail(Property::Idempotent,
                    fmt::format("simplifying the {} twice: '{}', once: '{}'", what, safe_text(twice), safe_text(once)));
      if (once != e) symbolic.push_back({"simplified " + what, once});
    }
  }

  // fixed-point: every node with arguments, rebuilt from them, is itself
  if (want(Property::FixedPoint)) {
    std::vector<Expr> roots;
    for (const auto& s : symbolic) roots.push_back(s.second);
    for (Expr node : topo_order(roots)) {
      if (node->kids.empty()) continue;  // a leaf: nothing to rebuild it from
      Expr again = nullptr;
      try {
        again = rebuild(node, node->kids);
      } catch (const Error& e) {
        return fail(Property::FixedPoint, fmt::format("rebuilding the {} node '{}' throws: {}", op_name(node->op),
                                                      safe_text(node), error_text(e)));
      }
      if (again != node) {
        std::string where;
        for (const auto& [what, root] : symbolic)
          if (depends_on_node(root, node)) {
            where = what;
            break;
          }
        return fail(Property::FixedPoint,
                    fmt::format("the {} node '{}' (in the {}) rebuilt from its own arguments is '{}'",
                                op_name(node->op), safe_text(node), where, safe_text(again)));
      }
    }
  }

  // value: normal form and simplified form against the oracle
  if (want(Property::Value)) {
    Matrix expected;
    try {
      std::map<std::string, long> d(dims.begin(), dims.end());
      testing::Oracle oracle(values, d);
      expected = oracle.eval(*parse_expression(f_oracle));
    } catch (const std::exception& e) {
      return discard(std::string("oracle: ") + e.what());
    }
    if (!expected.allFinite()) return discard("oracle value not finite");
    for (auto [form, e] : {std::pair{"compiled (normal form)", c.p.expr}, std::pair{"simplified", c.f}}) {
      Matrix got;
      try {
        got = ev.eval(e);
      } catch (const Error& err) {
        return fail(Property::Value, std::string("the ") + form + " expression does not evaluate where the oracle does: " +
                                         error_text(err) + " (" + to_text(e) + ")");
      }
      double err = 0;
      if (!close(got, expected, kValueRel, kValueAbs * M, &err))
        return fail(Property::Value, fmt::format("{} value {} but the oracle gives {} (error {:.3g}); {} form: {}", form,
                                                 show(got), show(expected), err, form, to_text(e)));
    }
  }

  // print: text of f and of its gradients parses back to the same values
  if (want(Property::Print)) {
    std::vector<std::pair<std::string, Expr>> items{{"f", c.f}, {"compiled f (before simplify)", c.p.expr}};
    for (std::size_t i = 0; i < c.vars.size(); ++i) items.push_back({"gradient w.r.t. " + c.vars[i], c.grads[i]});
    for (auto& [what, e] : items) {
      std::string text = to_text(e);
      Matrix before, after;
      try {
        before = ev.eval(e);
      } catch (const Error& err) {
        return fail(Property::Value, "the " + what + " does not evaluate: " + error_text(err) + " (" + text + ")");
      }
      try {
        Context cx2;
        TypedProgram p2 = compile(cx2, text, decl);
        after = evaluate(p2.expr, b);
      } catch (const Error& err) {
        return fail(Property::Print, "the printed " + what + " '" + text + "' does not compile back: " + error_text(err));
      }
      double err = 0;
      if (!close(after, before, kValueRel, kValueAbs * M * std::max(1.0, max_abs(before)), &err))
        return fail(Property::Print, fmt::format("the printed {} '{}' evaluates to {}, the expression to {} (error {:.3g})",
                                                 what, text, show(after), show(before), err));
    }
  }

  // gradient: symbolic against central finite differences
  if (want(Property::Gradient)) {
    for (std::size_t i = 0; i < c.vars.size(); ++i) {
      Matrix g;
      try {
        g = ev.eval(c.grads[i]);
      } catch (const Error& err) {
        return fail(Property::Gradient, "the gradient does not evaluate: " + error_text(err) + " (" + to_text(c.grads[i]) + ")",
                    c.vars[i]);
      }
      // Central differences at the step that balances truncation and
      // rounding for smooth O(1) functions; where that disagrees, further
      // estimates (Richardson extrapolation at larger steps, where rounding
      // noise dominates; smaller steps, for fast oscillation) before calling
      // it a failure: the property is that some estimate confirms the
      // symbolic gradient, which a wrong gradient (an O(1) error) fails.
      struct Estimate {
        double step;
        bool richardson;
      };
      static const Estimate kEstimates[] = {
          {std::cbrt(std::numeric_limits<double>::epsilon()), false}, {1e-3, true}, {1e-4, true}, {1e-6, false}, {1e-7, false},
          {1e-8, false}, {1e-9, false}};
      Matrix first;
      double first_err = 0;
      bool ok = false;
      try {
        for (const Estimate& est : kEstimates) {
          Matrix fd = finite_differences(c.f, c.xs[i], b, est.step, est.richardson);
          double err = 0;
          ok = close(g, fd, kGradRel, kGradAbs * M, &err);
          if (first.size() == 0) first = fd, first_err = err;
          if (ok) break;
        }
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Domain) return discard("finite differences leave the domain");
        throw;
      }
      if (ok) continue;
      return fail(Property::Gradient,
                  fmt::format("symbolic {} vs finite differences {} (error {:.3g}; no other step agrees either); gradient: {}",
                              show(g), show(first), first_err, to_text(c.grads[i])),
                  c.vars[i]);
    }
  }

  // sum rule: grad(f + g) = grad f + grad g
  if (want(Property::SumRule) && !g_text.empty()) {
    const std::string sum_text = "(" + f_text + ") + (" + g_text + ")";
    const std::string sum_decl = declarations_for(sum_text);
    Compiled cg, cs;
    try {
      compile_into(cg, g_text, declarations_for(g_text), true);
      compile_into(cs, sum_text, sum_decl, true);
    } catch (const Error& e) {
      return fail(Property::Engine, "compiling g or f + g: " + error_text(e));
    }
    Evaluator evg(b), evs(b);
    for (std::size_t i = 0; i < cs.vars.size(); ++i) {
      const std::string& v = cs.vars[i];
      Matrix lhs, rhs;
      try {
        lhs = evs.eval(cs.grads[i]);
        rhs = gradient_of(c, v, ev, values.at(v)) + gradient_of(cg, v, evg, values.at(v));
      } catch (const Error& err) {
        return fail(Property::SumRule, "a gradient does not evaluate: " + error_text(err), v);
      }
      double err = 0;
      if (!close(lhs, rhs, kMetaRel, kMetaAbs * M, &err))
        return fail(Property::SumRule,
                    fmt::format("grad(f + g) = {} but grad f + grad g = {} (error {:.3g}); grad(f + g): {}", show(lhs),
                                show(rhs), err, to_text(cs.grads[i])),
                    v);
    }
  }

  // transpose: grad_X f(X') at X0 = (grad_X f at X0')'
  if (want(Property::Transpose)) {
    for (std::size_t i = 0; i < c.vars.size(); ++i) {
      const PoolSymbol* s = nullptr;
      for (const auto& p : symbol_pool())
        if (c.vars[i] == p.name) s = &p;
      if (s->symmetric || s->shape.r == D::One || s->shape.c == D::One) continue;
      const std::string x = s->name;
      const std::string t_text = substitute(f_text, x, x + "'");
      std::string t_decl;
      for (const PoolSymbol* q : symbols_in(t_text)) {
        if (!t_decl.empty()) t_decl += "; ";
        t_decl += q->name == x ? x + ": matrix(" + dim_text(s->shape.c) + "," + dim_text(s->shape.r) + ")" : q->decl;
      }
      Compiled ct;
      try {
        compile_into(ct, t_text, t_decl, true);
      } catch (const Error& e) {
        return fail(Property::Engine, "compiling f(" + x + "'): " + error_text(e), x);
      }
      Bindings bt = b;
      bt.values[x] = values.at(x).transpose();
      Matrix lhs, rhs;
      try {
        Evaluator evt(bt);
        lhs = gradient_of(ct, x, evt, bt.values[x]);
        rhs = ev.eval(c.grads[i]).transpose();
      } catch (const Error& err) {
        return fail(Property::Transpose, "a gradient does not evaluate: " + error_text(err), x);
      }
      double err = 0;
      if (!close(lhs, rhs, kMetaRel, kMetaAbs * M, &err))
        return fail(Property::Transpose,
                    fmt::format("gradient of f({}') = {} at {} but the transposed gradient of f at {}' = {} (error {:.3g}); "
                                "f({}') = {}, its gradient: {}",
                                x, show(lhs), x, x, show(rhs), err, x, t_text, gradient_text(ct, x)),
                    x);
    }
  }
  // explain: every step of the derivation w.r.t. the first variable, parsed
  // back from its text, equals grad : dX for a fixed dX (the gradient is
  // checked against finite differences above).
  if (want(Property::Explain) && !c.vars.empty()) {
    const std::string& x = c.vars[0];
    Derivation d;
    try {
      d = explain(c.p.expr, c.xs[0]);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Limit) return passed;  // too long a derivation to read: grad's job
      return fail(Property::Explain, "explain throws: " + error_text(e), x);
    }
    Bindings bd = b;
    Matrix dx = values.at(x);
    for (Eigen::Index j = 0; j < dx.size(); ++j) dx.data()[j] = std::sin(1.7 * double(j) + 0.3);
    if (d.variable->symmetric) dx = (0.5 * (dx + dx.transpose())).eval();
    bd.values[d.dvar->name] = dx;
    Matrix want(1, 1);
    want(0, 0) = ev.eval(c.grads[0]).cwiseProduct(dx).sum();
    const std::string decls = declarations(d);
    for (std::size_t i = 0; i < d.steps.size(); ++i) {
      const std::string text = step_text(d, d.steps[i]);
      Matrix got;
      try {
        Context cx2;
        got = evaluate(compile(cx2, text, decls).expr, bd);
      } catch (const Error& err) {
        return fail(Property::Explain, fmt::format("step {} [{}] '{}' does not evaluate: {}", i + 1, d.steps[i].rule,
                                                   text, error_text(err)),
                    x);
      }
      double err = 0;
      if (!close(got, want, kMetaRel, kMetaAbs * M, &err))
        return fail(Property::Explain, fmt::format("step {} [{}] '{}' is {} but grad : d{} is {} (error {:.3g})", i + 1,
                                                   d.steps[i].rule, text, show(got), x, show(want), err),
                    x);
    }
  }
  return passed;
}

}  // namespace

const char* property_name(Property p) {
  switch (p) {
    case Property::Engine: return "engine";
    case Property::Value: return "value";
    case Property::Print: return "print";
    case Property::Gradient: return "gradient";
    case Property::SumRule: return "sum-rule";
    case Property::Transpose: return "transpose";
    case Property::Explain: return "explain";
    case Property::FixedPoint: return "fixed-point";
    case Property::Idempotent: return "idempotent";
    case Property::Inference: return "inference";
  }
  return "?";
}

std::optional<Property> property_from_name(const std::string& s) {
  for (Property p : {Property::Engine, Property::Value, Property::Print, Property::Gradient, Property::SumRule,
                     Property::Transpose, Property::Explain, Property::FixedPoint, Property::Idempotent})
    if (s == property_name(p)) return p;
  return std::nullopt;
}

std::string declarations_for(const std::string& text) {
  std::string out;
  for (const PoolSymbol* s : symbols_in(text)) out += (out.empty() ? "" : "; ") + std::string(s->decl);
  return out;
}

Outcome check_texts(const std::string& f, const std::string& g, const std::map<std::string, long>& dims,
                    const std::map<std::string, Matrix>& values, double magnitude, std::optional<Property> only,
                    const std::string& f_oracle, const std::string& decl) {
  try {
    return run_properties(f, f_oracle.empty() ? f : f_oracle, g, dims, values, magnitude, only, decl);
  } catch (const Error& e) {
    return fail(Property::Engine, "unexpected " + error_text(e));
  } catch (const std::exception& e) {
    return fail(Property::Engine, std::string("unexpected exception: ") + e.what());
  }
}

std::map<std::string, Matrix> draw_values(Rng& rng, long n, long k) {
  std::map<std::string, Matrix> values;
  auto size = [&](D d) -> long { return d == D::N ? n : d == D::K ? k : 1; };
  for (const auto& p : symbol_pool()) {
    const long r = size(p.shape.r), cc = size(p.shape.c);
    Matrix v(r, cc);
    if (p.symmetric) {  // G*G'/r + I: eigenvalues in [1, ~3]
      Matrix g(r, r);
      for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = rng.uniform(-1, 1);
      Matrix a = g * g.transpose() / double(r) + Matrix::Identity(r, r);
      v = 0.5 * (a + a.transpose());
    } else if (r == 1 && cc == 1) {  // scalars away from 0
      v(0, 0) = rng.uniform(0.3, 1.5) * (rng.chance(0.5) ? -1 : 1);
    } else {
      for (Eigen::Index i = 0; i < v.size(); ++i) v.data()[i] = rng.uniform(-1.2, 1.2);
    }
    values[p.name] = v;
  }
  return values;
}

Case make_case(std::uint64_t seed, const GenOptions& opt) {
  Rng rng(seed);
  Case c;
  c.seed = seed;
  long n = rng.chance(0.05) ? 1 : 2 + static_cast<long>(rng.below(3));
  long k;
  do {
    k = rng.chance(0.05) ? 1 : 2 + static_cast<long>(rng.below(4));
  } while (k == n);
  c.dims = {{"n", n}, {"k", k}};
  c.values = draw_values(rng, n, k);
  Generator gen(rng, opt);
  c.f = gen.scalar_expression();
  c.g = gen.scalar_expression(std::max(1, opt.depth - 1));  // may share subexpressions with f
  return c;
}

std::optional<std::string> screen(const Case& c, double* magnitude) {
  std::map<std::string, long> dims(c.dims.begin(), c.dims.end());
  testing::Oracle oracle(c.values, dims);
  std::unordered_map<const GNode*, Matrix> memo;
  double mag = 0;
  std::optional<std::string> why;
  std::function<const Matrix*(const GNode&)> walk = [&](const GNode& n) -> const Matrix* {
    if (auto it = memo.find(&n); it != memo.end()) return &it->second;
    std::vector<const Matrix*> kids;
    for (const auto& k : n.kids) {
      const Matrix* v = walk(*k);
      if (!v) return nullptr;
      kids.push_back(v);
    }
    std::string text = render(n, /*for_oracle=*/true);
    Matrix v;
    try {
      v = oracle.eval(*parse_expression(text));
    } catch (const std::exception& e) {
      why = "oracle: " + std::string(e.what()) + " in " + text;
      return nullptr;
    }
    if (!v.allFinite()) {
      why = "not finite: " + text;
      return nullptr;
    }
    mag = std::max(mag, max_abs(v));
    if (mag > kMaxMagnitude) {
      why = "too large: " + text;
      return nullptr;
    }
    // Arguments of inverses and determinants well conditioned: the gradient
    // of det(X) is det(X)*inv(X'), which the evaluator refuses near a
    // singular X (a clean Domain error, but no property to check there).
    const bool inverts = n.fmt.find("inv(") != std::string::npos || n.fmt.find("det(") != std::string::npos ||
                         n.fmt.find("^-") != std::string::npos;
    for (const Matrix* a : kids)
      if (inverts && a->rows() == a->cols() && a->rows() > 1 && Eigen::PartialPivLU<Matrix>(*a).rcond() < kMinRcond) {
        why = "ill-conditioned argument: " + text;
        return nullptr;
      }
    for (std::size_t i = 0; i < kids.size(); ++i) {
      const Matrix& a = *kids[i];
      switch (n.reqs[i]) {
        case Req::None: break;
        case Req::Kink:
          if (a.cwiseAbs().minCoeff() < kKinkDistance) why = "near a kink: " + text;
          break;
        case Req::NormKink:
          if (a.norm() < kKinkDistance) why = "near a kink: " + text;
          break;
        case Req::Positive:
          if (a.minCoeff() < kMinPositive) why = "not clearly positive: " + text;
          break;
        case Req::Moderate:
          if (max_abs(a) > kModerate) why = "argument too large for the oracle: " + text;
          break;
      }
      if (why) return nullptr;
    }
    return &(memo[&n] = std::move(v));
  };
  if (!walk(*c.f)) return why;
  if (c.g && !walk(*c.g)) return why;
  if (magnitude) *magnitude = mag;
  return std::nullopt;
}

// ------------------------------------------------------------ inference

namespace {

// A declaration as Function::symbols gives it: "x: vector(n)", "A: matrix(n,k)",
// "a: scalar", "S: symmetric(n)"; rows/cols are dimension texts ("1" for one).
struct ReadType {
  std::string kind;  // scalar, vector, matrix (symmetric counts as matrix)
  std::string rows = "1", cols = "1";
};

ReadType read_declaration(const std::string& decl) {
  ReadType t;
  const std::size_t colon = decl.find(':');
  std::string rest = decl.substr(colon == std::string::npos ? 0 : colon + 1);
  rest.erase(0, rest.find_first_not_of(' '));
  const std::size_t open = rest.find('(');
  t.kind = rest.substr(0, open);
  if (open == std::string::npos) return t;
  const std::string args = rest.substr(open + 1, rest.rfind(')') - open - 1);
  const std::size_t comma = args.find(',');
  if (t.kind == "vector") {
    t.rows = args;
  } else if (t.kind == "symmetric") {
    t.kind = "matrix";
    t.rows = t.cols = args;
  } else {
    t.rows = args.substr(0, comma);
    t.cols = comma == std::string::npos ? args : args.substr(comma + 1);
  }
  return t;
}

const char* pool_kind(PShape s) { return s.scalar() ? "scalar" : s.c == D::One ? "vector" : "matrix"; }

const PoolSymbol& pool_symbol(const std::string& name) {
  for (const auto& p : symbol_pool())
    if (name == p.name) return p;
  throw std::logic_error("prop: '" + name + "' is not a pool symbol");
}

// Dimension sizes for an inferred reading: a dimension named in the text
// (eye(n), ones(n,k)) keeps the case's size; one that plays the part of a
// generator dimension in a symbol of the same kind takes that size; the rest
// are drawn.
std::map<std::string, long> reading_sizes(const Case& c, const std::vector<std::pair<std::string, ReadType>>& types,
                                          const std::string& text, Rng& rng) {
  std::map<std::string, long> sizes;
  std::set<std::string> ids;
  for (auto& id : identifiers(text)) ids.insert(id);
  for (const auto& [d, v] : c.dims)
    if (ids.count(d)) sizes[d] = v;
  auto size_of = [&](D d) -> long { return d == D::N ? c.dims.at("n") : d == D::K ? c.dims.at("k") : 1; };
  // A product of dimensions (kron, vec: "k*m") is sized by its factors.
  auto factors = [](const std::string& dim) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i <= dim.size();) {
      std::size_t j = dim.find('*', i);
      if (j == std::string::npos) j = dim.size();
      out.push_back(dim.substr(i, j - i));
      i = j + 1;
    }
    return out;
  };
  for (const auto& [name, t] : types) {
    const PoolSymbol& p = pool_symbol(name);
    if (t.kind != pool_kind(p.shape)) continue;
    for (auto [dim, d] : {std::pair{t.rows, p.shape.r}, std::pair{t.cols, p.shape.c}})
      if (dim != "1" && dim.find('*') == std::string::npos && !sizes.count(dim)) sizes[dim] = size_of(d);
  }
  auto is_number = [](const std::string& d) {
    return !d.empty() &&
           std::all_of(d.begin(), d.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
  };
  for (const auto& [name, t] : types)
    for (const std::string& dim : {t.rows, t.cols})
      for (const std::string& f : factors(dim))
        if (f != "1" && !sizes.count(f)) sizes[f] = is_number(f) ? std::stol(f) : 2 + static_cast<long>(rng.below(3));
  for (const auto& [name, t] : types)
    for (const std::string& dim : {t.rows, t.cols})
      if (dim.find('*') != std::string::npos) {
        long n = 1;
        for (const std::string& f : factors(dim)) n *= f == "1" ? 1 : sizes.at(f);
        sizes[dim] = n;
      }
  return sizes;
}

// Values of the inferred shapes: the case's value where the shape is the
// same, else a fresh draw as draw_values makes them (positive definite for
// a square matrix where the pool's symbol is symmetric).
std::map<std::string, Matrix> reading_values(const Case& c, const std::vector<std::pair<std::string, ReadType>>& types,
                                             const std::map<std::string, long>& sizes, bool reuse, Rng& rng) {
  std::map<std::string, Matrix> values;
  auto size = [&](const std::string& d) -> long { return d == "1" ? 1 : sizes.at(d); };
  for (const auto& [name, t] : types) {
    const long r = size(t.rows), cc = size(t.cols);
    const Matrix& old = c.values.at(name);
    if (reuse && old.rows() == r && old.cols() == cc) {
      values[name] = old;
      continue;
    }
    Matrix v(r, cc);
    if (pool_symbol(name).symmetric && r == cc && r > 1) {
      Matrix g(r, r);
      for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = rng.uniform(-1, 1);
      Matrix a = g * g.transpose() / double(r) + Matrix::Identity(r, r);
      v = 0.5 * (a + a.transpose());
    } else if (r == 1 && cc == 1) {
      v(0, 0) = rng.uniform(0.3, 1.5) * (rng.chance(0.5) ? -1 : 1);
    } else {
      for (Eigen::Index i = 0; i < v.size(); ++i) v.data()[i] = rng.uniform(-1.2, 1.2);
    }
    values[name] = v;
  }
  return values;
}

}  // namespace

Outcome check_inference(const Case& c, double magnitude) {
  const std::string text = render(*c.f);
  Outcome passed;
  matcalc::Session session;  // outlives f's handles
  matcalc::Function f;
  try {
    f = session.load(text, "", {.scalar = true});
  } catch (const Error& e) {
    // A tie, or no reading within the search limit: fine, counted. Any other
    // error rejects an expression that has a reading (the generator's).
    if (e.kind() == ErrorKind::Inference || e.kind() == ErrorKind::Limit) {
      passed.inference = e.kind() == ErrorKind::Inference ? "inference error" : "limit error";
      return passed;
    }
    // Known failure, tolerated and counted: inference does not equate
    // products of dimensions (vec(x) of a vector x of free length n is of
    // length n*1, which never unifies with eye(k)'s k; kron(x, z)'*vec(W) needs
    // k*m = p*q). The same happened before the rewrite of inference; the
    // declared case checks these expressions.
    const bool products = text.find("vec(") != std::string::npos || text.find("kron(") != std::string::npos ||
                          text.find("reshape(") != std::string::npos;
    if (e.kind() == ErrorKind::Shape && products) {
      passed.known = "inference rejects vec/kron/reshape of free dimensions (Shape error without declarations)";
      passed.inference = "shape error with vec/kron/reshape (known failure)";
      return passed;
    }
    return fail(Property::Inference, "without declarations, " + error_text(e) +
                                         " (declared, it type-checks: " + declarations_for(text) + ")");
  }
  // The inferred types against the generator's, up to names of dimensions:
  // the same kinds, and a one-to-one correspondence of dimensions.
  std::vector<std::pair<std::string, ReadType>> types;
  // Every symbol, also one that the normal form cancels (b/exp(b)*exp(b)):
  // none was declared, so each is one of the text's.
  for (const matcalc::SymbolInfo& s : f.symbols) types.push_back({s.name, read_declaration(s.declaration)});
  if (types.size() != symbols_in(text).size())
    return fail(Property::Inference, "inferred symbols '" + f.declaration_text() + "' for " + declarations_for(text));
  // same: a one-to-one correspondence; general: the generator's reading is
  // an instance of the inferred one (the generator uses n for several
  // dimensions that nothing ties together).
  bool same = true, general = true;
  std::map<std::string, D> to_gen;
  std::map<D, std::string> from_gen;
  for (const auto& [name, t] : types) {
    const PoolSymbol& p = pool_symbol(name);
    if (t.kind != pool_kind(p.shape)) {
      same = general = false;
      break;
    }
    for (auto [dim, d] : {std::pair{t.rows, p.shape.r}, std::pair{t.cols, p.shape.c}}) {
      if ((dim == "1") != (d == D::One)) same = general = false;
      if (dim == "1") continue;
      auto a = to_gen.emplace(dim, d).first;
      auto b = from_gen.emplace(d, dim).first;
      if (a->second != d) same = general = false;
      if (b->second != dim) same = false;
    }
  }
  if (same) {
    passed.inference = "same types";
    return passed;
  }
  // Another reading: it must be an equally valid one, whose symbolic gradient
  // agrees with finite differences. Values drawn at random may land on a kink
  // or leave a domain the generator built for its own shapes, so a draw that
  // leaves the domain is skipped, and only a gradient that disagrees at three
  // draws is a failure.
  const std::string decl = f.declaration_text();
  Rng rng(c.seed ^ 0x5eed1f3eULL);
  Outcome last;
  int disagree = 0, unsupported = 0;
  for (int draw = 0; draw < 3; ++draw) {
    std::map<std::string, long> sizes = reading_sizes(c, types, text, rng);
    std::map<std::string, Matrix> values = reading_values(c, types, sizes, draw == 0, rng);
    std::map<std::string, long> dims;  // the dimension symbols; products follow from them
    for (const auto& [d, v] : sizes)
      if (d.find('*') == std::string::npos) dims[d] = v;
    Outcome o = check_texts(text, "", dims, values, magnitude, Property::Gradient, "", decl);
    if (o.status == Status::Pass) {
      passed.inference = general ? "equally valid: more general shapes" : "equally valid: other kinds";
      passed.detail = "inferred " + decl + " (declared " + declarations_for(text) + ")";
      return passed;
    }
    // The reading is valid but the engine cannot differentiate it (kron of
    // a matrix): nothing to check, not inference's failure.
    if (o.status == Status::Fail && o.detail.find("Unsupported error") != std::string::npos) {
      ++unsupported;
      continue;
    }
    if (o.status == Status::Fail) {
      ++disagree;
      last = o;
    }
  }
  if (disagree == 0) {
    passed.inference = unsupported ? "other reading, unchecked (gradient unsupported)"
                                   : "other reading, unchecked (outside the domain)";
    return passed;
  }
  return fail(Property::Inference,
              "inferred '" + decl + "' (declared: " + declarations_for(text) + "): " + property_name(last.property) +
                  (last.wrt.empty() ? "" : " w.r.t. " + last.wrt) + ": " + last.detail,
              last.wrt);
}

Outcome check_case(const Case& c, std::optional<Property> only) {
  double mag = 0;
  if (auto why = screen(c, &mag)) return discard(*why);
  if (only && *only == Property::Inference) return check_inference(c, mag);
  Outcome o = check_texts(render(*c.f), c.g ? render(*c.g) : "", c.dims, c.values, mag, only, render(*c.f, true));
  if (o.status != Status::Pass || only) return o;
  Outcome inferred = check_inference(c, mag);
  if (inferred.status != Status::Pass) return inferred;
  o.inference = inferred.inference;
  if (o.known.empty()) o.known = inferred.known;
  if (o.detail.empty()) o.detail = inferred.detail;  // a passing case: the other reading
  return o;
}

Result run_index(std::uint64_t run_seed, std::uint64_t index, const GenOptions& opt, int max_draws) {
  Result r;
  const std::uint64_t first = case_seed(run_seed, index);
  for (int draw = 0; draw < max_draws; ++draw) {
    r.c = make_case(draw == 0 ? first : case_seed(first, static_cast<std::uint64_t>(draw)), opt);
    r.draws = draw + 1;
    r.outcome = check_case(r.c);
    if (r.outcome.status != Status::Discard) break;
  }
  return r;
}

// ------------------------------------------------------------------ shrinking

namespace {

// Every node of a tree with its path (child indices from the root).
void paths(const GNodeP& n, std::vector<int>& at, std::vector<std::pair<std::vector<int>, GNodeP>>& out) {
  out.push_back({at, n});
  for (std::size_t i = 0; i < n->kids.size(); ++i) {
    at.push_back(static_cast<int>(i));
    paths(n->kids[i], at, out);
    at.pop_back();
  }
}

GNodeP replace(const GNodeP& root, const std::vector<int>& path, std::size_t depth, const GNodeP& with) {
  if (depth == path.size()) return with;
  auto copy = std::make_shared<GNode>(*root);
  auto i = static_cast<std::size_t>(path[depth]);
  copy->kids[i] = replace(root->kids[i], path, depth + 1, with);
  return copy;
}

void same_shape_descendants(const GNodeP& n, PShape s, std::vector<GNodeP>& out, bool self) {
  if (!self && n->shape == s) out.push_back(n);
  for (const auto& k : n->kids) same_shape_descendants(k, s, out, false);
}

}  // namespace

Case shrink(const Case& start, Property p, int max_checks) {
  Case best = start;
  if (p != Property::SumRule) best.g = nullptr;
  auto fails = [&](const Case& c) {
    Outcome o = check_case(c, p);
    return o.status == Status::Fail && o.property == p;
  };
  // Without g the failure may vanish (an engine error in g): keep g then.
  if (!fails(best)) best = start;
  int checks = 0;
  bool improved = true;
  while (improved && checks < max_checks) {
    improved = false;
    for (int which = 0; which < 2 && !improved; ++which) {
      GNodeP root = which == 0 ? best.f : best.g;
      if (!root) continue;
      const int size = node_count(*root);
      std::vector<std::pair<std::vector<int>, GNodeP>> nodes;
      std::vector<int> at;
      paths(root, at, nodes);
      for (const auto& [path, node] : nodes) {
        std::vector<GNodeP> cands;
        same_shape_descendants(node, node->shape, cands, true);
        for (auto& l : Generator::leaves(node->shape)) cands.push_back(l);
        std::stable_sort(cands.begin(), cands.end(),
                         [](const GNodeP& a, const GNodeP& b) { return node_count(*a) < node_count(*b); });
        for (const auto& cand : cands) {
          if (checks >= max_checks) break;
          GNodeP next = replace(root, path, 0, cand);
          if (node_count(*next) >= size && render(*next).size() >= render(*root).size()) continue;
          Case trial = best;
          (which == 0 ? trial.f : trial.g) = next;
          ++checks;
          if (fails(trial)) {
            best = trial;
            improved = true;
            break;
          }
        }
        if (improved || checks >= max_checks) break;
      }
    }
  }
  return best;
}

std::string values_json(const std::map<std::string, Matrix>& values, const std::string& text) {
  std::string out = "{";
  bool first = true;
  for (const PoolSymbol* s : symbols_in(text)) {
    const Matrix& m = values.at(s->name);
    out += fmt::format("{}\"{}\": ", first ? "" : ", ", s->name);
    first = false;
    auto num = [](double v) { return fmt::format("{:.17g}", v); };
    if (m.size() == 1 && s->shape.scalar()) {
      out += num(m(0, 0));
    } else if (m.cols() == 1 && s->shape.c == D::One) {
      out += "[";
      for (Eigen::Index i = 0; i < m.rows(); ++i) out += (i ? ", " : "") + num(m(i, 0));
      out += "]";
    } else {
      out += "[";
      for (Eigen::Index i = 0; i < m.rows(); ++i) {
        out += i ? ", [" : "[";
        for (Eigen::Index j = 0; j < m.cols(); ++j) out += (j ? ", " : "") + num(m(i, j));
        out += "]";
      }
      out += "]";
    }
  }
  return out + "}";
}

std::string report(const Case& c, const Outcome& o, std::uint64_t run_seed, std::uint64_t index) {
  const std::string f = render(*c.f);
  const std::string g = c.g ? render(*c.g) : "";
  const bool sum = o.property == Property::SumRule;
  const std::string expr = sum ? "(" + f + ") + (" + g + ")" : f;
  const std::string decl = declarations_for(expr);
  std::string dims;
  std::set<std::string> ids;
  for (auto& id : identifiers(expr + " " + decl)) ids.insert(id);
  for (const auto& [d, v] : c.dims)
    if (ids.count(d)) dims += (dims.empty() ? "" : ",") + d + "=" + std::to_string(v);
  std::string wrt = o.wrt;
  if (wrt.empty()) {
    auto syms = symbols_in(expr);
    if (!syms.empty()) wrt = syms.front()->name;
  }
  std::string out = fmt::format("FAILED property '{}' (run seed {}, case {}, case seed {})\n", property_name(o.property),
                                run_seed, index, c.seed);
  out += "  expr:   " + f + "\n";
  if (sum) out += "  g:      " + g + "\n";
  out += "  decl:   " + decl + "\n";
  if (!o.wrt.empty()) out += "  wrt:    " + o.wrt + "\n";
  out += "  dims:   " + dims + "\n";
  out += "  values: " + values_json(c.values, expr) + "\n";
  out += "  detail: " + o.detail + "\n";
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\' || ch == '$' || ch == '`') q += '\\';
      q += ch;
    }
    return q + "\"";
  };
  if (!wrt.empty())
    out += "  repro:  build/matcalc check " + quote(expr) + " --wrt " + wrt + " --decl " + quote(decl) +
           (dims.empty() ? "" : " --dims " + dims) + "\n";
  return out;
}

}  // namespace matcalc::prop
