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
#include "diff/jacobian.hpp"
#include "eval/evaluate.hpp"
#include "eval/values.hpp"
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
// The direction of the hvp property: a name the symbol pool does not use.
constexpr const char* kDirection = "D";

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
  return {Status::Fail, p, std::move(wrt), std::move(detail), "", "", ""};
}
Outcome discard(std::string why) { return {Status::Discard, Property::Engine, "", std::move(why), "", "", ""}; }

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

// The directions of the Hessian property for a variable shaped like `x0`:
// every entry, or for a symmetric one E_ii and E_ij + E_ji.
std::vector<Matrix> hessian_directions(const Matrix& x0, bool symmetric) {
  std::vector<Matrix> out;
  for (Eigen::Index j = 0; j < x0.cols(); ++j)
    for (Eigen::Index i = symmetric ? j : 0; i < x0.rows(); ++i) {
      Matrix d = Matrix::Zero(x0.rows(), x0.cols());
      d(i, j) = 1;
      if (symmetric) d(j, i) = 1;
      out.push_back(d);
    }
  return out;
}

// Central differences of the gradient `g` w.r.t. the symbol `x` along each
// of `dirs`, one column each (vec of the difference); with `richardson`,
// (4 D(h/2) - D(h)) / 3 as in finite_differences.
Matrix gradient_differences(Expr g, Expr x, const Bindings& b, const std::vector<Matrix>& dirs, double rel_step,
                            bool richardson) {
  Bindings work = b;
  Matrix& xv = work.values.at(x->name);
  const Matrix x0 = xv;
  const double h = rel_step * std::max(1.0, max_abs(x0));
  Matrix out;
  for (std::size_t j = 0; j < dirs.size(); ++j) {
    auto central = [&](double step) {
      xv = x0 + step * dirs[j];
      Matrix up = evaluate(g, work);
      xv = x0 - step * dirs[j];
      Matrix down = evaluate(g, work);
      xv = x0;
      Matrix d = (up - down) / (2 * step);
      return Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(d.data(), d.size()));
    };
    Eigen::VectorXd col = richardson ? ((4 * central(h / 2) - central(h)) / 3).eval() : central(h);
    if (j == 0) out.resize(col.size(), static_cast<Eigen::Index>(dirs.size()));
    out.col(static_cast<Eigen::Index>(j)) = col;
  }
  return out;
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
  // hessian, hessian-symmetric, hvp, hessian-print: the second order of
  // simplify(f), every diagonal block and the cross blocks of the first
  // three variables
  if (want(Property::Hessian) || want(Property::HessianSymmetric) || want(Property::Hvp) ||
      want(Property::HessianPrint)) {
    constexpr std::size_t kCrossVariables = 3;
    for (std::size_t i = 0; i < c.vars.size(); ++i) {
      for (std::size_t j = i; j < c.vars.size() && (j == i || j < kCrossVariables); ++j) {
        const Expr x = c.xs[i], y = c.xs[j];
        const bool diagonal = i == j;
        const std::string which = diagonal ? c.vars[i] : c.vars[i] + "," + c.vars[j];
        const Matrix& y0 = values.at(c.vars[j]);
        const Expr dir = symbol(c.cx, kDirection, x->shape, x->symmetric);
        Matrix dv = values.at(c.vars[i]);
        for (Eigen::Index e = 0; e < dv.size(); ++e) dv.data()[e] = std::sin(1.3 * double(e) + 0.7);
        if (x->symmetric) dv = (0.5 * (dv + dv.transpose())).eval();
        Bindings bd = b;
        bd.values[kDirection] = dv;
        // the block (X, Y); for a diagonal one the hvp, for a cross one the block (Y, X)
        Expr h = nullptr, other = nullptr;
        Matrix hm, om;
        try {
          h = hessian(c.f, x, y);
          other = diagonal ? hvp(c.f, x, dir) : hessian(c.f, y, x);
          hm = ev.eval(h);
          Evaluator evd(bd);
          om = evd.eval(other);
        } catch (const Error& e) {
          if (e.kind() == ErrorKind::Limit) {
            passed.skipped = "second order: limit error";
            continue;
          }
          return fail(Property::Hessian,
                      fmt::format("the Hessian block {} {}: {} (f: {})", which,
                                  h ? "or its partner does not evaluate" : "throws", error_text(e), to_text(c.f)),
                      which);
        } catch (const std::exception& e) {
          return fail(Property::Hessian,
                      fmt::format("building the Hessian block {} throws: {} (f: {})", which, e.what(), to_text(c.f)),
                      which);
        }
        const double hs = std::max(1.0, max_abs(hm));
        if (want(Property::Hessian)) {
          // As for the gradient: some estimate of the differences must agree
          // (smaller steps for fast oscillation: tan(sin(u.^-2)) at small u).
          struct Estimate {
            double step;
            bool richardson;
          };
          static const Estimate kEstimates[] = {{std::cbrt(std::numeric_limits<double>::epsilon()), false},
                                                {1e-3, true},
                                                {1e-4, true},
                                                {1e-6, false},
                                                {1e-7, false},
                                                {1e-8, false}};
          const std::vector<Matrix> dirs = hessian_directions(y0, y->symmetric);
          Matrix basis(y0.size(), static_cast<Eigen::Index>(dirs.size()));
          for (std::size_t k = 0; k < dirs.size(); ++k)
            basis.col(static_cast<Eigen::Index>(k)) = Eigen::Map<const Eigen::VectorXd>(dirs[k].data(), dirs[k].size());
          const Matrix got = hm * basis;
          Matrix first;
          double first_err = 0;
          bool ok = false;
          try {
            for (const Estimate& est : kEstimates) {
              Matrix fd = gradient_differences(c.grads[i], y, b, dirs, est.step, est.richardson);
              double err = 0;
              ok = close(got, fd, kGradRel, kGradAbs * M * hs, &err);
              if (first.size() == 0) first = fd, first_err = err;
              if (ok) break;
            }
          } catch (const Error& e) {
            if (e.kind() == ErrorKind::Domain) return discard("finite differences leave the domain");
            throw;
          }
          if (!ok)
            return fail(Property::Hessian,
                        fmt::format("block {}: H*[directions] {} vs differences of the gradient {} (error {:.3g}; no "
                                    "other step agrees either); Hessian: {}; gradient: {}",
                                    which, show(got), show(first), first_err, safe_text(h), to_text(c.grads[i])),
                        which);
        }
        double err = 0;
        if (want(Property::HessianSymmetric)) {
          const Matrix mirror = diagonal ? hm.transpose() : om.transpose();
          if (!close(hm, mirror, kMetaRel, kMetaAbs * M * hs, &err))
            return fail(Property::HessianSymmetric,
                        fmt::format("the Hessian block {} = {} but the transpose of {} = {} (error {:.3g}); block: {}",
                                    which, show(hm), diagonal ? "itself" : "the block " + c.vars[j] + "," + c.vars[i],
                                    show(mirror), err, safe_text(h)),
                        which);
        }
        if (diagonal && want(Property::Hvp)) {
          const Matrix hd = hm * Eigen::Map<const Eigen::VectorXd>(dv.data(), dv.size());
          const Matrix pvec = Eigen::Map<const Eigen::VectorXd>(om.data(), om.size());
          if (!close(pvec, hd, kMetaRel, kMetaAbs * M * hs * std::max(1.0, max_abs(dv)), &err))
            return fail(Property::Hvp,
                        fmt::format("hvp along {} = {} but H*vec({}) = {} (error {:.3g}); hvp: {}; Hessian: {}",
                                    kDirection, show(pvec), kDirection, show(hd), err, safe_text(other), safe_text(h)),
                        which);
        }
        if (want(Property::HessianPrint)) {
          std::vector<std::pair<Expr, const Matrix*>> printed{{h, &hm}};
          if (diagonal) printed.push_back({other, &om});
          const std::string with_direction =
              decl + "; " + kDirection + declarations_for(c.vars[i]).substr(c.vars[i].size());
          for (auto [e, value] : printed) {
            std::string text;
            try {
              text = to_text(e);
            } catch (const Error& err_text) {
              if (err_text.kind() != ErrorKind::Limit) throw;
              passed.skipped = "second order: limit error";
              continue;
            }
            Matrix again;
            try {
              Context cx2;
              again = evaluate(compile(cx2, text, with_direction).expr, bd);
            } catch (const Error& e2) {
              return fail(
                  Property::HessianPrint,
                  fmt::format("the printed block {} '{}' does not compile back: {}", which, text, error_text(e2)),
                  which);
            }
            if (!close(again, *value, kValueRel, kValueAbs * M * std::max(1.0, max_abs(*value)), &err))
              return fail(Property::HessianPrint,
                          fmt::format("the printed block {} '{}' evaluates to {}, the block to {} (error {:.3g})",
                                      which, text, show(again), show(*value), err),
                          which);
          }
        }
      }
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
    case Property::Domain: return "domain";
    case Property::ExtremeValue: return "extreme-value";
    case Property::ExtremeGradient: return "extreme-gradient";
    case Property::Hessian: return "hessian";
    case Property::HessianSymmetric: return "hessian-symmetric";
    case Property::Hvp: return "hvp";
    case Property::HessianPrint: return "hessian-print";
  }
  return "?";
}

std::optional<Property> property_from_name(const std::string& s) {
  for (Property p : {Property::Engine, Property::Value, Property::Print, Property::Gradient, Property::SumRule,
                     Property::Transpose, Property::Explain, Property::FixedPoint, Property::Idempotent,
                     Property::Domain, Property::ExtremeValue, Property::ExtremeGradient, Property::Hessian,
                     Property::HessianSymmetric, Property::Hvp, Property::HessianPrint})
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

namespace {
bool make_extreme(Case& c, Extreme kind, Rng& xr);
}  // namespace

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
  // An extreme draw, from a stream of its own: the other cases stay as they
  // were without extreme draws.
  Rng xr(seed ^ 0x65787472656d65ULL);
  if (opt.extreme > 0 && xr.chance(opt.extreme)) {
    static const Extreme kinds[] = {Extreme::Magnitude,    Extreme::Magnitude,      Extreme::Literal,
                                    Extreme::NearSingular, Extreme::NearAsymmetric, Extreme::Outside,
                                    Extreme::Outside};
    Case x = c;
    x.g = nullptr;  // the extreme properties have no partner
    if (make_extreme(x, kinds[xr.below(std::size(kinds))], xr)) return x;
  }
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
    // The draw left the domain of the other reading (sqrt(b^2) of a matrix
    // b): no point to check there.
    if (o.status == Status::Fail && o.detail.find("does not evaluate: Domain error") != std::string::npos) continue;
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

// ------------------------------------------------------------ extreme draws

namespace {

using LMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;

// A long-double oracle: the literal expression straight from its syntax tree,
// as tests/rules/oracle.hpp evaluates it (explicit inverses, no rewriting),
// in long double (range 1e+-4932: no under- or overflow at 1e+-150), with
// logsumexp and softmax shifted by the maximum. It records where the literal
// expression leaves its domain, the largest condition number of what it
// inverts, and whether an intermediate value lies outside the normal range
// of double. With `noise` > 0 it multiplies every input and every
// intermediate value entrywise by 1 + noise*u, u uniform in [-1, 1]: the
// spread of the value under such perturbations measures how much rounding
// the computation at this point amplifies.
class LOracle {
 public:
  LOracle(const std::map<std::string, Matrix>& values, const std::map<std::string, long>& dims, long double noise = 0,
          std::uint64_t seed = 0, bool double_range = false, bool clamped_exp = false)
      : dims_(dims), noise_(noise), rng_(seed), double_range_(double_range), clamped_exp_(clamped_exp) {
    for (const auto& [k, v] : values) values_[k] = v.cast<long double>();
  }
  bool outside = false;       // the literal expression has no value here
  std::string why;            // where it left the domain
  long double kappa = 1;      // the largest 1-norm condition number of an inverted or det argument
  bool out_of_range = false;  // an intermediate nonzero entry below DBL_MIN or above DBL_MAX
  long double magnitude = 0;  // the largest intermediate entry
  bool unreliable = false;    // a sign the oracle cannot settle (logdet near singularity): no reference
  long double periodic = 0;   // the largest argument of sin/cos/tan

  LMatrix eval(const Ast& a) { return note(eval_raw(a)); }

 private:
  std::map<std::string, LMatrix> values_;
  std::map<std::string, long> dims_;
  long double noise_;
  Rng rng_;
  bool double_range_;  // every value rounded into the range of double (0 below DBL_MIN, inf above DBL_MAX)
  bool clamped_exp_;   // exp as Eigen 3.4's vectorized exp computes it: the argument clamped below at -708.396

  LMatrix note(LMatrix m) {
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      long double& v = m.data()[i];
      if (noise_ > 0) v *= 1 + noise_ * static_cast<long double>(rng_.uniform(-1, 1));
      const long double x = std::fabs(v);
      if (std::isfinite(x)) magnitude = std::max(magnitude, x);
      if (x != 0 && (x < std::numeric_limits<double>::min() || x > std::numeric_limits<double>::max())) {
        out_of_range = true;
        if (double_range_) v = x < 1 ? 0.0L : std::copysign(std::numeric_limits<long double>::infinity(), v);
      }
    }
    return m;
  }
  void undefined(const std::string& w) {
    if (!outside) why = w;
    outside = true;
  }
  static LMatrix s(long double x) { return LMatrix::Constant(1, 1, x); }
  long dim(const Ast& a) {
    if (a.kind == Ast::Kind::Number) return static_cast<long>(a.number);
    if (a.kind == Ast::Kind::Name) return dims_.at(a.text);
    long p = 1;
    for (const auto& k : a.kids) p *= dim(*k);
    return p;
  }
  // A square matrix that is inverted (or whose determinant is taken): its
  // condition; `strict`: singular is outside the domain.
  long double factor(const LMatrix& x, const char* what, bool strict) {
    Eigen::PartialPivLU<LMatrix> lu(x);
    const long double d = lu.determinant();
    if (d == 0 || !std::isfinite(d)) {
      if (strict) undefined(std::string(what) + " of a singular matrix");
      kappa = std::numeric_limits<long double>::infinity();
      return d;
    }
    const LMatrix inv = lu.inverse();
    const long double k = x.cwiseAbs().colwise().sum().maxCoeff() * inv.cwiseAbs().colwise().sum().maxCoeff();
    kappa = std::max(kappa, std::isfinite(k) ? k : std::numeric_limits<long double>::infinity());
    return d;
  }
  LMatrix inverse(const LMatrix& x, const char* what) {
    if (x.size() == 1) {
      if (x(0, 0) == 0) undefined(std::string(what) + " of 0");
      return s(1 / x(0, 0));
    }
    factor(x, what, true);
    return x.inverse();
  }
  LMatrix divide(const LMatrix& num, const LMatrix& den, bool entrywise) {
    if ((den.array() == 0).any()) undefined("a zero divisor");
    if (!entrywise) return num / den(0, 0);
    if (num.size() == 1) return den.unaryExpr([&](long double v) { return num(0, 0) / v; });
    if (den.size() == 1) return num / den(0, 0);
    return num.cwiseQuotient(den);
  }
  LMatrix power(const LMatrix& b, long double p, bool entrywise) {
    const bool integral = p == std::floor(p);
    auto check = [&](long double v) {
      if (v < 0 && !integral) undefined("a fractional power of a negative number");
      if (v == 0 && p < 0) undefined("a negative power of 0");
    };
    if (entrywise || b.size() == 1) {
      for (Eigen::Index i = 0; i < b.size(); ++i) check(b.data()[i]);
      return b.unaryExpr([&](long double v) { return std::pow(v, p); });
    }
    LMatrix r = LMatrix::Identity(b.rows(), b.cols());
    LMatrix base = p < 0 ? inverse(b, "a negative matrix power") : b;
    for (int i = 0; i < static_cast<int>(std::fabs(p)); ++i) r = note(r * base);
    return r;
  }
  static LMatrix times(const LMatrix& a, const LMatrix& b) {
    if (a.size() == 1 && b.rows() != 1) return a(0, 0) * b;
    if (b.size() == 1 && a.cols() != 1) return a * b(0, 0);
    return a * b;
  }
  template <typename F>
  static LMatrix entrywise(const LMatrix& a, const LMatrix& b, F f) {
    if (a.size() == 1) return b.unaryExpr([&](long double v) { return f(a(0, 0), v); });
    if (b.size() == 1) return a.unaryExpr([&](long double u) { return f(u, b(0, 0)); });
    return a.binaryExpr(b, f);
  }

  LMatrix eval_raw(const Ast& a) {
    switch (a.kind) {
      case Ast::Kind::Number: return s(static_cast<long double>(a.number));
      case Ast::Kind::Name: return values_.at(a.text);
      case Ast::Kind::Neg: return -eval(*a.kids[0]);
      case Ast::Kind::Transpose: return eval(*a.kids[0]).transpose();
      case Ast::Kind::Power: {
        LMatrix b = eval(*a.kids[0]), e = eval(*a.kids[1]);
        return power(b, e(0, 0), a.text == ".^");
      }
      case Ast::Kind::Chain: {
        LMatrix acc = eval(*a.kids[0]);
        for (std::size_t i = 1; i < a.kids.size(); ++i) {
          LMatrix r = eval(*a.kids[i]);
          const std::string& op = a.ops[i];
          if (op == "+")
            acc = acc + r;
          else if (op == "-")
            acc = acc - r;
          else if (op == "*")
            acc = times(acc, r);
          else if (op == "/")
            acc = divide(acc, r, false);
          else if (op == ".*")
            acc = entrywise(acc, r, [](long double u, long double v) { return u * v; });
          else if (op == "./")
            acc = divide(acc, r, true);
          else
            acc = s((acc.transpose() * r).trace());
          if (i + 1 < a.kids.size()) acc = note(acc);
        }
        return acc;
      }
      case Ast::Kind::Call: return call(a);
    }
    throw std::logic_error("long-double oracle: unknown node");
  }

  LMatrix call(const Ast& a) {
    const std::string& f = a.text;
    if (f == "eye") return LMatrix::Identity(dim(*a.kids[0]), dim(*a.kids[0]));
    if (f == "ones" || f == "zeros") {
      long r = dim(*a.kids[0]), c = a.kids.size() > 1 ? dim(*a.kids[1]) : 1;
      return LMatrix::Constant(r, c, f == "ones" ? 1.0L : 0.0L);
    }
    if (f == "reshape") {
      LMatrix x = eval(*a.kids[0]);
      return Eigen::Map<LMatrix>(x.data(), dim(*a.kids[1]), dim(*a.kids[2]));
    }
    if (f == "kron") {
      LMatrix x = eval(*a.kids[0]), y = eval(*a.kids[1]);
      LMatrix r(x.rows() * y.rows(), x.cols() * y.cols());
      for (long i = 0; i < x.rows(); ++i)
        for (long j = 0; j < x.cols(); ++j) r.block(i * y.rows(), j * y.cols(), y.rows(), y.cols()) = x(i, j) * y;
      return r;
    }
    LMatrix x = eval(*a.kids[0]);
    auto each = [&](auto fn) { return LMatrix(x.unaryExpr(fn)); };
    if (f == "tr") return s(x.trace());
    if (f == "det") {
      if (x.size() == 1) return x;
      factor(x, "det", false);
      return s(x.determinant());
    }
    if (f == "logdet") {
      const long double k0 = kappa;
      kappa = 1;
      long double d = x.size() == 1 ? x(0, 0) : factor(x, "logdet", true);
      // The sign of a determinant computed in long double is certain only
      // where the matrix is far from singular; elsewhere nothing is known.
      if (d < 0 && !(kappa < 1e15L))
        unreliable = true;
      else if (!(d > 0))
        undefined("logdet of a matrix whose determinant is not positive");
      kappa = std::max(k0, kappa);
      return s(std::log(std::fabs(d)));
    }
    if (f == "inv") return inverse(x, "inv");
    if (f == "diag") {
      if (x.cols() == 1 && x.rows() > 1) return LMatrix(x.col(0).asDiagonal());
      if (x.rows() == 1 && x.cols() > 1) return LMatrix(x.row(0).transpose().asDiagonal());
      return x.diagonal();
    }
    if (f == "sum") return s(x.sum());
    if (f == "norm2") return s(std::sqrt(x.cwiseAbs2().sum()));
    if (f == "norm1") return s(x.cwiseAbs().sum());
    if (f == "vec") return Eigen::Map<LMatrix>(x.data(), x.size(), 1);
    if (f == "sym") return (x + x.transpose()) / 2;
    if (f == "logsumexp" || f == "softmax") {
      const long double m = x.maxCoeff();
      LMatrix e = x.unaryExpr([&](long double t) { return std::exp(t - m); });
      const long double sum = e.sum();
      if (f == "logsumexp") return s(m + std::log(sum));
      return e / sum;
    }
    if (f == "exp") {
      if (clamped_exp_)  // Eigen 3.4's vectorized exp: 5.56e-309 for every argument below -708.4
        return each([](long double t) { return t < -708.3964185322641L ? 5.55552948377339e-309L : std::exp(t); });
      return each([](long double t) { return std::exp(t); });
    }
    if (f == "log") {
      if ((x.array() <= 0).any()) undefined("log of a number that is not positive");
      return each([](long double t) { return std::log(t); });
    }
    if (f == "sqrt") {
      if ((x.array() < 0).any()) undefined("sqrt of a negative number");
      return each([](long double t) { return std::sqrt(t); });
    }
    if (f == "sin" || f == "cos" || f == "tan")
      periodic = std::max(periodic, x.size() ? x.cwiseAbs().maxCoeff() : 0.0L);
    if (f == "sin") return each([](long double t) { return std::sin(t); });
    if (f == "cos") return each([](long double t) { return std::cos(t); });
    if (f == "tan") return each([](long double t) { return std::tan(t); });
    if (f == "tanh") return each([](long double t) { return std::tanh(t); });
    if (f == "abs") return each([](long double t) { return std::fabs(t); });
    if (f == "sign") return each([](long double t) { return t > 0 ? 1.0L : (t < 0 ? -1.0L : 0.0L); });
    if (f == "sigmoid") return each([](long double t) { return 1 / (1 + std::exp(-t)); });
    if (f == "softplus")
      return each([](long double t) { return t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t)); });
    if (f == "relu") return each([](long double t) { return t > 0 ? t : 0.0L; });
    throw std::logic_error("long-double oracle: unknown function " + f);
  }
};

// Every node of a tree with its path (child indices from the root); the
// extreme draws and the shrinker both edit trees through these.
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

GNodeP node(std::string fmt, PShape s, std::vector<GNodeP> kids = {}) {
  auto n = std::make_shared<GNode>();
  n->fmt = std::move(fmt);
  n->shape = s;
  n->reqs.assign(kids.size(), Req::None);
  n->kids = std::move(kids);
  return n;
}

bool is_literal(const GNode& n) {
  return n.kids.empty() && !n.fmt.empty() && std::isdigit(static_cast<unsigned char>(n.fmt[0]));
}

// A random orthogonal matrix (Q of a random matrix's QR).
Matrix orthogonal(Rng& rng, long n) {
  Matrix g(n, n);
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = rng.uniform(-1, 1);
  return Eigen::HouseholderQR<Matrix>(g).householderQ() * Matrix::Identity(n, n);
}

// Symbols of f's text of a given kind (square matrices, symmetric ones).
std::vector<const PoolSymbol*> used(const Case& c, bool square, bool symmetric) {
  std::vector<const PoolSymbol*> out;
  for (const PoolSymbol* p : symbols_in(render(*c.f)))
    if ((!square || (p->shape.square() && !p->shape.scalar() && c.values.at(p->name).rows() > 1)) &&
        (!symmetric || p->symmetric))
      out.push_back(p);
  return out;
}

// Makes c an extreme case of kind `kind`; false when f offers no place for
// it (c unchanged then).
bool make_extreme(Case& c, Extreme kind, Rng& xr) {
  std::vector<std::pair<std::vector<int>, GNodeP>> nodes;
  std::vector<int> at;
  paths(c.f, at, nodes);
  auto scale_text = [](double s) { return fmt::format("{:.3g}", s); };
  switch (kind) {
    case Extreme::None: return false;
    case Extreme::Magnitude: {
      const double s = (xr.chance(0.5) ? 1e150 : 1e-150) * std::pow(10.0, xr.uniform(-2, 2));
      std::vector<const PoolSymbol*> syms = used(c, false, false);
      if (syms.empty()) return false;
      if (xr.chance(0.5)) {
        for (auto& [name, v] : c.values) v *= s;
        c.extreme_what = "every input scaled by " + scale_text(s);
      } else {
        const PoolSymbol* p = syms[xr.below(syms.size())];
        c.values[p->name] *= s;
        c.extreme_what = std::string(p->name) + " scaled by " + scale_text(s);
      }
      break;
    }
    case Extreme::Literal: {
      const char* lit = xr.chance(0.5) ? "1e150" : "1e-150";
      std::vector<std::size_t> lits;
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (is_literal(*nodes[i].second)) lits.push_back(i);
      if (!lits.empty() && xr.chance(0.5)) {
        const auto& [path, n] = nodes[lits[xr.below(lits.size())]];
        c.f = replace(c.f, path, 0, node(lit, n->shape));
        c.extreme_what = std::string("the literal ") + n->fmt + " replaced by " + lit;
      } else {
        const auto& [path, n] = nodes[xr.below(nodes.size())];
        c.f = replace(c.f, path, 0, node(std::string("(") + lit + "*$0)", n->shape, {n}));
        c.extreme_what = std::string("a subexpression multiplied by ") + lit;
      }
      break;
    }
    case Extreme::NearSingular: {
      std::vector<const PoolSymbol*> syms = used(c, true, false);
      if (syms.empty()) return false;
      const PoolSymbol* p = syms[xr.below(syms.size())];
      Matrix& v = c.values[p->name];
      const long n = v.rows();
      const double cond = std::pow(10.0, xr.uniform(10, 15));
      Eigen::VectorXd sv(n);
      for (long i = 0; i < n; ++i) sv(i) = std::pow(cond, -double(i) / double(n - 1));  // 1 .. 1/cond
      Matrix u = orthogonal(xr, n);
      if (p->symmetric) {
        Matrix m = u * sv.asDiagonal() * u.transpose();
        v = 0.5 * (m + m.transpose());
      } else {
        v = u * sv.asDiagonal() * orthogonal(xr, n).transpose();
      }
      c.extreme_what = fmt::format("{} of condition {:.3g}", p->name, cond);
      break;
    }
    case Extreme::NearAsymmetric: {
      std::vector<const PoolSymbol*> syms = used(c, true, true);
      if (syms.empty()) return false;
      const PoolSymbol* p = syms[xr.below(syms.size())];
      Matrix& v = c.values[p->name];
      const long n = v.rows();
      const long i = static_cast<long>(xr.below(static_cast<std::size_t>(n)));
      long j = static_cast<long>(xr.below(static_cast<std::size_t>(n - 1)));
      if (j >= i) ++j;
      const double delta = std::pow(10.0, xr.uniform(-12, -6));
      const double scale = std::max(std::fabs(v(i, j)), std::sqrt(std::fabs(v(i, i)) * std::fabs(v(j, j))));
      v(i, j) += delta * scale;
      c.extreme_what = fmt::format("{}({},{}) off by a relative {:.3g}", p->name, i + 1, j + 1, delta);
      break;
    }
    case Extreme::Outside: {
      // The places: a positive argument of log/sqrt/powers (negated), a
      // divisor (made zero), an inverted matrix (made singular).
      std::vector<std::pair<std::size_t, std::size_t>> neg, div, inv;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const GNode& n = *nodes[i].second;
        for (std::size_t k = 0; k < n.kids.size(); ++k) {
          const std::string ref = "$" + std::to_string(k);
          const PShape ks = n.kids[k]->shape;
          if (n.reqs[k] == Req::Positive) {
            const bool divisor =
                n.fmt.find("/ " + ref) != std::string::npos || n.fmt.find("/" + ref) != std::string::npos;
            (divisor ? div : neg).push_back({i, k});
          } else if (ks.square() && !ks.scalar() && c.dims.at(ks.r == D::N ? "n" : "k") > 1 &&
                     (ks.r == D::N || ks.r == D::K) &&
                     (n.fmt.find("inv(" + ref) != std::string::npos ||
                      n.fmt.find("logdet(" + ref) != std::string::npos ||
                      n.fmt.find("det(" + ref) == 4 /* log(det($0)) */ || n.fmt.find(ref + "^-") != std::string::npos ||
                      n.fmt.find("inv($0*" + ref) != std::string::npos)) {
            inv.push_back({i, k});
          }
        }
      }
      std::vector<const PoolSymbol*> syms = used(c, true, true);
      std::vector<int> kinds;
      if (!neg.empty()) kinds.push_back(0);
      if (!div.empty()) kinds.push_back(1);
      if (!inv.empty()) kinds.push_back(2);
      if (!syms.empty()) kinds.push_back(3);
      if (kinds.empty()) return false;
      const int which = kinds[xr.below(kinds.size())];
      if (which == 3) {  // a symmetric input with two equal rows and columns: exactly singular
        const PoolSymbol* p = syms[xr.below(syms.size())];
        Matrix& v = c.values[p->name];
        const long n = v.rows();
        const long i = static_cast<long>(xr.below(static_cast<std::size_t>(n)));
        long j = static_cast<long>(xr.below(static_cast<std::size_t>(n - 1)));
        if (j >= i) ++j;
        v.row(j) = v.row(i);
        v.col(j) = v.col(i);
        c.extreme_what = fmt::format("{} singular (row and column {} equal to {})", p->name, j + 1, i + 1);
        break;
      }
      const auto& list = which == 0 ? neg : which == 1 ? div : inv;
      const auto [i, k] = list[xr.below(list.size())];
      const auto& [path, n] = nodes[i];
      const GNodeP kid = n->kids[k];
      GNodeP with;
      if (which == 0)
        with = node("(-$0)", kid->shape, {kid});
      else if (which == 1)
        with = node("($0 - $0)", kid->shape, {kid});
      else
        with = node(kid->shape.r == D::N ? "(x*x')" : "(z*z')", kid->shape);
      auto changed = std::make_shared<GNode>(*n);
      changed->kids[k] = with;
      c.f = replace(c.f, path, 0, changed);
      static const char* const what[] = {"a positive argument negated", "a divisor made zero",
                                         "a singular matrix under an inverse"};
      c.extreme_what = std::string(what[which]) + " in " + render(*changed);
      if (which == 2) c.undefined_node = render(*changed);
      break;
    }
  }
  c.extreme = kind;
  return true;
}

}  // namespace

const char* extreme_name(Extreme e) {
  switch (e) {
    case Extreme::None: return "none";
    case Extreme::Magnitude: return "extreme magnitude";
    case Extreme::Literal: return "extreme literal";
    case Extreme::NearSingular: return "nearly singular";
    case Extreme::NearAsymmetric: return "nearly asymmetric";
    case Extreme::Outside: return "outside the domain";
  }
  return "?";
}

namespace {

// The relative size of the largest asymmetry of m by the test of
// src/eval/values.cpp: max |a_ij - a_ji| / max(|a_ij|, |a_ji|, sqrt(|a_ii a_jj|)).
double asymmetry(const Matrix& m) {
  double worst = 0;
  for (Eigen::Index j = 0; j < m.cols(); ++j)
    for (Eigen::Index i = j + 1; i < m.rows(); ++i) {
      const double a = m(i, j), b = m(j, i);
      const double scale = std::max({std::fabs(a), std::fabs(b), std::sqrt(std::fabs(m(i, i)) * std::fabs(m(j, j)))});
      if (a != b)
        worst = std::max(worst, scale > 0 ? std::fabs(a - b) / scale : std::numeric_limits<double>::infinity());
    }
  return worst;
}

constexpr long double kNoise = 8 * std::numeric_limits<double>::epsilon();
constexpr int kNoiseRuns = 3;

// The oracle's value at `values` and how far perturbations of kNoise move it.
struct Reference {
  LMatrix value;
  long double spread = 0;  // the largest ||perturbed - value||; inf where a perturbed value is not finite
  bool finite = false;
  bool outside = false;
  std::string why;
  bool out_of_range = false;
  long double kappa = 1, magnitude = 0, periodic = 0;
};

Reference reference(const std::string& text, const std::map<std::string, Matrix>& values,
                    const std::map<std::string, long>& dims, std::uint64_t seed) {
  Reference r;
  AstPtr ast = parse_expression(text);
  LOracle clean(values, dims);
  r.value = clean.eval(*ast);
  r.outside = clean.outside;
  r.why = clean.why;
  r.out_of_range = clean.out_of_range;
  r.kappa = clean.kappa;
  r.magnitude = clean.magnitude;
  r.periodic = clean.periodic;
  r.finite = r.value.allFinite() && !clean.unreliable;
  if (!r.finite || r.outside) return r;
  for (int run = 0; run < kNoiseRuns; ++run) {
    LOracle noisy(values, dims, kNoise, seed + static_cast<std::uint64_t>(run));
    LMatrix v = noisy.eval(*ast);
    const long double d = v.allFinite() && v.rows() == r.value.rows() && v.cols() == r.value.cols()
                              ? (v - r.value).norm()
                              : std::numeric_limits<long double>::infinity();
    r.spread = std::max(r.spread, std::isfinite(d) ? d : std::numeric_limits<long double>::infinity());
  }
  return r;
}

// A double result against the reference: ||got - ref|| <= 1e-9 ||ref|| +
// 16 spread + an underflow floor (results below DBL_MIN are not
// representable to a relative accuracy).
bool agrees(const Matrix& got, const Reference& ref, long double* err, long double* tol) {
  const LMatrix g = got.cast<long double>();
  *err = g.rows() == ref.value.rows() && g.cols() == ref.value.cols() ? (g - ref.value).norm()
                                                                      : std::numeric_limits<long double>::infinity();
  *tol = 1e-9L * ref.value.norm() + 16 * ref.spread +
         4 * static_cast<long double>(std::numeric_limits<double>::min()) * static_cast<long double>(got.size());
  return *err <= *tol;
}

std::string show_l(const LMatrix& m) {
  if (m.size() == 1) return fmt::format("{:.10g}", m(0, 0));
  std::string s = "[";
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    if (i) s += "; ";
    for (Eigen::Index j = 0; j < m.cols(); ++j) s += fmt::format("{}{:.6g}", j ? " " : "", m(i, j));
  }
  return s + "]";
}

// Central differences of the engine's f w.r.t. x at relative steps (the
// symmetric convention for a symmetric x), and the noise of each entry: the
// spread of f over the step. nullopt where an evaluation throws or is not finite.
std::optional<Matrix> scaled_differences(Expr f, Expr x, const Bindings& b, double rel_step, long double f_noise,
                                         Matrix* noise) {
  Bindings work = b;
  Matrix& xv = work.values.at(x->name);
  const Matrix x0 = xv;
  const bool sym = x->symmetric && x0.rows() == x0.cols() && x0.rows() > 1;
  const double scale = max_abs(x0);
  if (scale == 0 || !std::isfinite(scale)) return std::nullopt;
  Matrix g(x0.rows(), x0.cols());
  noise->resize(x0.rows(), x0.cols());
  try {
    for (Eigen::Index j = 0; j < x0.cols(); ++j)
      for (Eigen::Index i = 0; i < x0.rows(); ++i) {
        if (sym && i < j) continue;
        const double xi = x0(i, j);
        auto set = [&](double v) {
          xv(i, j) = v;
          if (sym) xv(j, i) = v;
        };
        volatile double up = xi + rel_step * std::max(std::fabs(xi), 1e-3 * scale);
        const double h = up - xi;
        set(xi + h);
        const double fp = evaluate(f, work)(0, 0);
        set(xi - h);
        const double fm = evaluate(f, work)(0, 0);
        set(xi);
        if (!std::isfinite(fp) || !std::isfinite(fm)) return std::nullopt;
        const double d = (fp - fm) / (2 * h), e = static_cast<double>(f_noise) / h;
        if (sym && i != j)
          g(i, j) = g(j, i) = d / 2, (*noise)(i, j) = (*noise)(j, i) = e / 2;
        else
          g(i, j) = d, (*noise)(i, j) = e;
      }
  } catch (const Error&) {
    return std::nullopt;
  }
  return g;
}

// Known failures of the extreme-gradient property, tolerated and counted;
// empty when the formula itself is wrong (or cannot be checked: a text with
// I, which the oracle cannot size).
std::string known_gradient_failure(const std::string& formula, const std::map<std::string, Matrix>& values,
                                   const std::map<std::string, long>& dims, std::uint64_t seed, const Matrix& fd,
                                   double tol) {
  // I as eye(n) or eye(k), whichever evaluates (the oracle cannot size I).
  Reference r;
  bool evaluated = false;
  for (const char* eye : {"eye(n)", "eye(k)"}) {
    try {
      r = reference(substitute(formula, "I", eye), values, dims, seed ^ 0x9d1ULL);
      evaluated = true;
      break;
    } catch (const std::exception&) {
    }
  }
  if (!evaluated) return "";
  if (r.outside) return "";
  // x .* tanh(x) has the gradient x + tanh(x) - x .* tanh(x).^2, whose last
  // two terms cancel where |x| is large (at 1e17 already: the gradient of
  // a*tanh(a) there is 0, not 1); tr(z*softmax(z)') likewise.
  if (!r.finite || !(r.spread <= 1e-3L * r.value.norm()))
    return "an ill-conditioned gradient formula: its terms cancel catastrophically (gradient of a*tanh(a) at a = 1e17 "
           "is 0)";
  // The formula is right in long double, but its double evaluation
  // under- or overflows: the gradient of norm2(x.^2) at x = [3e-150, 4e-150]
  // is 0 (x.^3 underflows).
  if (r.out_of_range && r.value.rows() == fd.rows() && r.value.cols() == fd.cols() &&
      (r.value - fd.cast<long double>()).norm() <= static_cast<long double>(tol) + 16 * r.spread)
    return "a gradient formula whose intermediate values under- or overflow in double (gradient of norm2(x.^2) at x = "
           "[3e-150, 4e-150] is 0)";
  return "";
}

}  // namespace

Outcome check_extreme(const Case& c, std::optional<Property> only) {
  auto want = [&](Property p) { return !only || *only == p; };
  Outcome passed;
  const std::string text = render(*c.f), oracle_text = render(*c.f, true);
  const std::string decl = declarations_for(text);
  // What the engine reads: the values as eval reads a values file (the
  // symmetry check, then exact symmetry); the oracle gets the same values.
  std::map<std::string, Matrix> values = c.values;
  bool must_refuse_values = false;
  double worst_asymmetry = 0;
  for (const PoolSymbol* p : symbols_in(text)) {
    Matrix& v = values.at(p->name);
    if (!p->symmetric || v.rows() < 2) continue;
    const double a = asymmetry(v);
    worst_asymmetry = std::max(worst_asymmetry, a);
    if (a > 2e-10) must_refuse_values = true;  // twice the documented 1e-10: no rounding band
    v = (0.5 * (v + v.transpose())).eval();
  }
  Reference ref;
  try {
    ref = reference(oracle_text, values, c.dims, c.seed ^ 0x0a15eULL);
  } catch (const std::exception& e) {
    return discard(std::string("long-double oracle: ") + e.what());
  }
  // Where the oracle leaves the domain on its own at extreme magnitudes,
  // that may be rounding (exp(-1e150) = 0 under a log, T + A - T' losing A),
  // not the expression: no reference then. At moderate values (the other
  // kinds) a zero divisor, a negative log argument or a zero pivot is exact.
  const bool trusted = c.extreme != Extreme::Magnitude && c.extreme != Extreme::Literal;
  if (ref.outside && !trusted) ref.outside = false, ref.finite = false;
  const bool outside = ref.outside || (!c.undefined_node.empty() && text.find(c.undefined_node) != std::string::npos);
  const std::string why = ref.outside ? ref.why : "a singular matrix under an inverse: " + c.undefined_node;
  Compiled cc;
  Bindings b;
  try {
    compile_into(cc, text, decl, false);
    ValuesContext vc;
    for (const auto& [d, v] : c.dims) vc.dims[d] = v;
    b = read_values(nlohmann::json::parse(values_json(c.values, text)), cc.p.symbols, vc);
  } catch (const Error&) {
    return passed;  // refused: an error is never wrong here
  } catch (const std::exception& e) {
    return fail(Property::Engine, std::string("unexpected exception: ") + e.what());
  }
  if (must_refuse_values && want(Property::Domain))
    return fail(Property::Domain, fmt::format("a symmetric value asymmetric by a relative {:.3g} was accepted ({})",
                                              worst_asymmetry, c.extreme_what));
  std::vector<std::pair<const char*, Matrix>> got;
  for (auto [form, e] : {std::pair{"compiled (normal form)", cc.p.expr}, std::pair{"simplified", cc.f}}) {
    try {
      got.push_back({form, evaluate(e, b)});
    } catch (const Error&) {
      continue;
    } catch (const std::exception& ex) {
      return fail(Property::Engine, std::string("unexpected exception: ") + ex.what());
    }
    if (outside && want(Property::Domain)) {
      // No known failures left here: logdet of a singular matrix, zeros ./
      // zeros, softmax of a scalar, det(inv(X)), X^0 and kron with zeros are
      // errors now (issue 10; PropertyExtreme tests below pin each).
      return fail(Property::Domain,
                  fmt::format("the {} expression evaluates to {} where the literal one has no value ({}; {}): {}", form,
                              show(got.back().second), why, c.extreme_what, to_text(e)));
    }
  }
  if (outside || got.empty() || !ref.finite) return passed;
  // A reference without significant digits (the literal computation lost
  // them, where the engine's simpler form may keep them): nothing to compare.
  if (!(ref.spread <= 1e-3L * ref.value.norm() + static_cast<long double>(std::numeric_limits<double>::min())))
    return passed;
  for (const auto& [form, v] : got) {
    long double err = 0, tol = 0;
    if (agrees(v, ref, &err, &tol)) continue;
    // Where the literal expression computed in the range of double (every
    // intermediate value flushed to 0 below DBL_MIN, to inf above DBL_MAX)
    // gives the same number, the engine is no worse than a literal double
    // computation: x'*x*(y'*y)/(z'*z) at 1e-150.
    // Known failure: exp(z) at z = [-1000, -2000] is [5.6e-309, 5.6e-309],
    // not 0 (Eigen 3.4's vectorized exp clamps its argument at -708.4), and
    // z'*exp(z)*1e300 there is -1.7e-5: the reference with exp clamped so
    // gives the engine's number.
    for (const bool clamped : {false, true}) {
      if (!ref.out_of_range && !clamped) continue;
      Reference in_double;
      try {
        LOracle o(values, c.dims, 0, 0, !clamped, clamped);
        in_double.value = o.eval(*parse_expression(oracle_text));
        in_double.finite = in_double.value.allFinite();
        in_double.spread = ref.spread;
      } catch (const std::exception&) {
        in_double.finite = false;
      }
      long double err2 = 0, tol2 = 0;
      if (in_double.finite && agrees(v, in_double, &err2, &tol2)) {
        passed.known = clamped ? "exp of an argument below -708.4 is about DBL_MIN, not 0 (Eigen's vectorized exp "
                                 "clamps): z'*exp(z)*1e300 at z = [-1000, -2000] is -1.7e-5"
                               : "an intermediate value outside the range of double loses the value (as in a literal "
                                 "double computation)";
        return passed;
      }
    }
    if (!want(Property::ExtremeValue)) return passed;
    return fail(
        Property::ExtremeValue,
        fmt::format("{} value {} but the long-double oracle gives {} (error {:.3g}, tolerance {:.3g}, condition "
                    "{:.3g}; {}); {} form: {}",
                    form, show(v), show_l(ref.value), static_cast<double>(err), static_cast<double>(tol),
                    static_cast<double>(ref.kappa), c.extreme_what, form,
                    safe_text(form[0] == 'c' ? cc.p.expr : cc.f)));
  }
  // The gradient at extreme magnitudes and literals.
  if (!want(Property::ExtremeGradient) || (c.extreme != Extreme::Magnitude && c.extreme != Extreme::Literal))
    return passed;
  // sin/cos/tan of a large argument oscillate within any representable step
  // (the spacing of doubles at 1e150 is 1e134): no differences to compare.
  if (ref.periodic > 100) return passed;
  for (const PoolSymbol* s : symbols_in(text)) {
    Matrix g;
    const Expr x = cc.p.symbols.at(s->name);
    Expr ge = nullptr;
    try {
      ge = gradients(cc.f, std::vector<Expr>{x}).at(0);
      g = evaluate(ge, b);
    } catch (const Error&) {
      continue;  // refused: never wrong
    }
    if (!g.allFinite()) continue;
    // Two step sizes; the differences are meaningful where they agree with
    // each other within their noise (the noise of f over the step, with the
    // factor of agrees()).
    const long double f_noise = 16 * ref.spread + 1e-9L * ref.value.norm();
    Matrix n1, n2;
    auto d1 = scaled_differences(cc.f, x, b, 1e-4, f_noise, &n1);
    auto d2 = scaled_differences(cc.f, x, b, 1e-5, f_noise, &n2);
    if (!d1 || !d2) continue;
    const double noise = std::max(n1.norm(), n2.norm());
    const double spread = (*d1 - *d2).norm(), size = std::max(d1->norm(), d2->norm());
    // Meaningful: differences well above their noise (f's rounding over the
    // step; zero where f absorbs the change: b + cos(X) at b = 1e150) that
    // two steps agree on (no kink or oscillation within the step).
    if (!(size > 0 && noise <= 1e-3 * size && spread <= 1e-4 * size + noise)) continue;
    const double err = (g - *d2).norm();
    const double tol = 1e-5 * std::max(g.norm(), d2->norm()) + 2 * noise + 2 * spread;
    if (err <= tol) continue;
    // Which part fails: the gradient formula, evaluated by the long-double
    // oracle (with its perturbations), tells a formula that is right but
    // ill-conditioned here, or lost in double, from a wrong one.
    if (std::string k = known_gradient_failure(safe_text(ge), values, c.dims, c.seed, *d2, tol); !k.empty()) {
      passed.known = k;
      return passed;
    }
    return fail(Property::ExtremeGradient,
                fmt::format("symbolic {} vs central differences {} (and {} at 10x the step; error {:.3g}, tolerance "
                            "{:.3g}; {}); gradient: {}",
                            show(g), show(*d2), show(*d1), err, tol, c.extreme_what, safe_text(ge)),
                s->name);
  }
  return passed;
}

Outcome check_case(const Case& c, std::optional<Property> only) {
  if (c.extreme != Extreme::None) return check_extreme(c, only);
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
  if (c.extreme != Extreme::None)
    out += std::string("  extreme: ") + extreme_name(c.extreme) + ": " + c.extreme_what + "\n";
  out += "  detail: " + o.detail + "\n";
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\' || ch == '$' || ch == '`') q += '\\';
      q += ch;
    }
    return q + "\"";
  };
  if (c.extreme != Extreme::None) {
    out += "  repro:  echo '" + values_json(c.values, expr) + "' > /tmp/v.json && build/matcalc eval " + quote(expr) +
           (o.property == Property::ExtremeGradient ? " --wrt " + wrt : "") + " --decl " + quote(decl) +
           (dims.empty() ? "" : " --dims " + dims) + " --values /tmp/v.json\n";
    return out;
  }
  // The second-order properties: the command that prints the result (it
  // takes no sizes; the values above are the point).
  const bool second = o.property == Property::Hessian || o.property == Property::HessianSymmetric ||
                      o.property == Property::Hvp || o.property == Property::HessianPrint;
  if (second) {
    const std::size_t comma = wrt.find(',');  // a cross block "X,Y"
    if (comma != std::string::npos) wrt.replace(comma, 1, " --wrt ");
    out += std::string("  repro:  build/matcalc ") + (o.property == Property::Hvp ? "hvp" : "hessian") + " " +
           quote(expr) + " --wrt " + wrt +
           (o.property == Property::Hvp ? std::string(" --direction ") + kDirection : "") + " --decl " + quote(decl) +
           "\n";
  } else if (!wrt.empty()) {
    out += "  repro:  build/matcalc check " + quote(expr) + " --wrt " + wrt + " --decl " + quote(decl) +
           (dims.empty() ? "" : " --dims " + dims) + "\n";
  }
  return out;
}

}  // namespace matcalc::prop
