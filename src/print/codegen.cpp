// The shared core of the code printers (see codegen.hpp).
#include "print/codegen.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "ir/error.hpp"
#include "print/precedence.hpp"

namespace matcalc::codegen {

Code atom(std::string s) { return {std::move(s), kAtom}; }
std::string paren_if(const Code& c, bool need) { return need ? "(" + c.s + ")" : c.s; }
std::string as_atom(const Code& c) { return paren_if(c, c.prec < kAtom); }

Code binary(const Code& a, std::string_view op, const Code& b, int prec) {
  return {paren_if(a, a.prec < prec) + " " + std::string(op) + " " + paren_if(b, b.prec <= prec), prec};
}

Code call(std::string_view fn, std::initializer_list<Code> args) {
  std::string s(fn);
  s += '(';
  bool first = true;
  for (const Code& a : args) {
    if (!first) s += ", ";
    s += a.s;
    first = false;
  }
  return atom(s + ")");
}

Code number_literal(double v, std::string_view nan, std::string_view inf) {
  if (std::isnan(v)) return atom(std::string(nan));
  if (std::isinf(v)) return v < 0 ? Code{"-" + std::string(inf), kUnary} : atom(std::string(inf));
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return {s, v < 0 ? kUnary : kAtom};
}

Kind kind_of(const Shape& s) {
  if (s.is_scalar()) return Kind::Scalar;
  if (s.is_col()) return Kind::Col;
  if (s.is_row()) return Kind::Row;
  return Kind::Matrix;
}
bool one_d(Kind k) { return k == Kind::Col || k == Kind::Row; }

std::vector<DimSource> dim_sources(const std::map<std::string, Expr>& symbols, const std::string& name) {
  std::vector<DimSource> out;
  for (const auto& [sym_name, sym] : symbols) {
    Kind k = kind_of(sym->shape);
    std::vector<std::pair<Dim, int>> axes;
    if (k == Kind::Matrix) axes = {{sym->shape.rows, 0}, {sym->shape.cols, 1}};
    if (one_d(k)) axes = {{sym->shape.is_col() ? sym->shape.rows : sym->shape.cols, -1}};
    for (const auto& [dm, axis] : axes)
      if (dm.factors().size() == 1 && dm.factors()[0] == name) out.push_back({sym_name, axis, dm.coeff()});
  }
  return out;
}

InverseOf inverse_of(Expr inv_node) {
  Expr a = inv_node->kid(0);
  if (a->op == Op::Transpose) return {a->kid(0), true};
  return {a, false};
}

Expr determinant_source(Expr a) { return a->op == Op::Transpose ? a->kid(0) : a; }

DetPower det_power(Expr f) {
  auto det_of_matrix = [](Expr d) { return d->op == Op::Det && !d->kid(0)->is_scalar(); };
  if (det_of_matrix(f)) return {determinant_source(f->kid(0)), 1.0};
  if (f->op == Op::Pow && det_of_matrix(f->kid(0)) && f->kid(1)->op == Op::Const)
    return {determinant_source(f->kid(0)->kid(0)), f->kid(1)->value};
  return {};
}

// ------------------------------------------------------------ the emitter

Emitter::Emitter(const ModuleSpec& spec, std::string_view what) : spec_(spec) {
  if (!spec.value) throw Error(ErrorKind::Usage, std::string(what) + " needs a function value");
  if ((spec.hessian != nullptr) + (spec.jacobian != nullptr) + (spec.hvp != nullptr) > 1)
    throw std::logic_error("a module spec has more than one second-order output");
  roots_.push_back({spec.value});
  if (!spec.gradients.empty() || spec.second_order()) {
    roots_.emplace_back();
    for (const auto& [name, g] : spec.gradients) roots_.back().push_back(g);
  }
  if (Expr second = spec.second_order()) roots_.push_back({second});
}

std::string Emitter::second_name() const {
  if (spec_.hessian) return "hessian";
  if (spec_.jacobian) return "jacobian";
  return "hvp";
}

std::string Emitter::second_what() const {
  if (spec_.hessian) return "the Hessian";
  if (spec_.jacobian) return "the Jacobian";
  return "the Hessian-vector product";
}

bool Emitter::second_is_matrix() const { return spec_.hessian || spec_.jacobian; }

void Emitter::count() {
  counting_ = true;
  for (stage_ = 0; stage_ < static_cast<int>(roots_.size()); ++stage_)
    for (Expr r : roots_[stage_]) ref(r);
  counting_ = false;
}

std::string Emitter::stages() {
  std::string s;
  int temp = 0, facs = 0;
  const int last = static_cast<int>(roots_.size()) - 1;
  for (int st = 0; st <= last; ++st) {
    stage_ = st;
    s += stage_prologue(st);
    for (const Item& it : order_) {
      Expr e = it.e;
      if (it.factorization) {
        if (factor_stage_[e] != st) continue;
        std::string f = "fac" + std::to_string(facs++);
        s += factorization_line(f, e);
        factor_names_[e] = f;
        continue;
      }
      if (e->op == Op::Symbol || first_stage_[e] != st || !held(e)) continue;
      std::string t = "t" + std::to_string(temp++);
      s += temporary(t, e, lower(e));
      names_[e] = t;
    }
    s += stage_epilogue(st, last);
  }
  return s;
}

std::vector<Expr> Emitter::inputs_of_stage(int stage) const {
  std::vector<Expr> out;
  for (const Item& it : order_)
    if (!it.factorization && it.e->op == Op::Symbol && first_stage_.at(it.e) == stage) out.push_back(it.e);
  return out;
}

Code Emitter::ref(Expr e) {
  if (e->op == Op::Transpose) return transposed(ref(e->kid(0)), kind_of(e->kid(0)->shape));
  if (e->op == Op::Const) return number(e->value);
  if (counting_) {
    if (uses_[e]++ == 0) {
      first_stage_[e] = stage_;
      if (e->op != Op::Symbol) lower(e);
      order_.push_back({e, false});
    }
    return atom("_");  // the text is not used while counting
  }
  if (auto it = names_.find(e); it != names_.end()) return atom(it->second);
  return lower(e);
}

bool Emitter::held(Expr e) const {
  auto it = uses_.find(e);
  return e->op == Op::Symbol || (it != uses_.end() && it->second > 1);
}

Code Emitter::transpose_of(Expr a) {
  if (a->op == Op::Transpose) return ref(a->kid(0));
  if (a->symmetric) return ref(a);
  return transposed(ref(a), kind_of(a->shape));
}

Code Emitter::factorization(Expr m) {
  if (counting_) {
    if (!factor_stage_.count(m)) {
      factor_stage_[m] = stage_;
      ref(m);
      order_.push_back({m, true});
    }
    return atom("_");
  }
  return atom(factor_names_.at(m));
}

Code Emitter::dim(const Dim& dm) {
  std::vector<std::string> parts;
  if (dm.coeff() != 1 || dm.factors().empty()) parts.push_back(std::to_string(dm.coeff()));
  for (const auto& f : dm.factors()) {
    if (counting_) dim_stage_.emplace(f, stage_);
    parts.push_back(local_of_dim(f));
  }
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : " * ") + p;
  return {s, parts.size() > 1 ? kMul : kAtom};
}

namespace {
bool negative_term(Expr t) {
  if (t->op == Op::Const) return t->value < 0;
  return t->op == Op::Mul && t->kid(0)->op == Op::Const && t->kid(0)->value < 0;
}
}  // namespace

Code Emitter::lower_sum(Expr e) {
  // Broadcast terms (print/precedence.hpp) are written as their scalar part
  // alone where the target adds a scalar to every entry of a vector. The
  // choice is structural, the same in both passes, so the counts stay right:
  // such a term refers to its scalar factors only, never to its ones.
  std::vector<bool> broadcast = broadcast_terms(e, true);
  if (!scalar_broadcasts_onto_vectors()) broadcast.assign(broadcast.size(), false);
  Code acc = broadcast[0] ? lower_product_scalar_part(e->kid(0), false) : ref(e->kid(0));
  for (std::size_t i = 1; i < e->kids.size(); ++i) {
    Expr t = e->kid(i);
    if (broadcast[i]) {
      const bool minus = negative_term(t);
      acc = binary(acc, minus ? "-" : "+", lower_product_scalar_part(t, minus), kAdd);
      continue;
    }
    // Only the writing pass may choose the form: whether t is held in a
    // temporary is known once counting is done. Both forms refer to the
    // same operands, so the counts stay right.
    if (!counting_ && !held(t) && negative_term(t)) {
      Code mag = t->op == Op::Const ? number(-t->value) : lower_product(t, true);
      acc = binary(acc, "-", mag, kAdd);
    } else {
      acc = binary(acc, "+", ref(t), kAdd);
    }
  }
  return acc;
}

Code Emitter::lower_product_scalar_part(Expr term, bool flip_sign) {
  if (term->op == Op::Ones) return number(flip_sign ? -1 : 1);
  return lower_product(term, flip_sign, true);
}

Code Emitter::lower_product(Expr e, bool flip_sign, bool scalar_only) {
  double coef = 1;
  std::vector<Code> items;
  std::vector<Code> den;
  std::vector<Expr> chain;
  std::vector<DetPower> dets;
  for (Expr k : e->kids) {
    if (DetPower d = det_power(k); d.matrix) {
      // det(A) underflows or overflows long before det(A)*X does (det(X)*inv(X)'
      // at X = 1e-200*I): the factor is applied to the rest in a scaled form.
      dets.push_back(d);
    } else if (k->op == Op::Const) {
      coef *= k->value;
    } else if (!k->is_scalar()) {
      if (!scalar_only) chain.push_back(k);
    } else if (k->op == Op::Pow && k->kid(1)->op == Op::Const && k->kid(1)->value < 0) {
      // x^-p prints as a division: / x, / x^p
      double p = -k->kid(1)->value;
      Code base = ref(k->kid(0));
      den.push_back(p == 1 ? base : power_of(base, p));
    } else {
      items.push_back(ref(k));
    }
  }
  if (flip_sign) coef = -coef;
  if (!chain.empty()) items.push_back(lower_chain(chain));

  Code acc;
  std::size_t next = 0;
  if (items.empty()) {
    acc = number(coef);
  } else if (coef == 1) {
    acc = items[next++];
  } else if (coef == -1) {
    acc = negated(items[next++]);
  } else {
    acc = number(coef);
  }
  for (; next < items.size(); ++next) acc = binary(acc, "*", items[next], kMul);
  // A divisor is a scalar: every target divides an array by a scalar.
  for (const Code& d : den) acc = binary(acc, "/", d, kMul);
  for (const DetPower& d : dets) acc = times_det(factorization(d.matrix), acc, d.power);
  return acc;
}

Emitter::Factor Emitter::factor(Expr f) {
  const bool pending =
      f->op == Op::Inv || f->op == Op::Commutation || (f->op == Op::Diag && one_d(kind_of(f->kid(0)->shape)));
  if (pending) return {f, {}, f->shape};
  return {nullptr, ref(f), f->shape};
}

Code Emitter::value_of(const Factor& f) { return f.pending ? ref(f.pending) : f.code; }

Emitter::Factor Emitter::combine(const Factor& l, const Factor& r) {
  Shape s{l.shape.rows, r.shape.cols};
  // Two pending factors: the right one is formed.
  if (l.pending && r.pending) return combine(l, Factor{nullptr, value_of(r), r.shape});
  if (Expr p = l.pending) {
    if (p->op == Op::Inv) return {nullptr, solve_left(p, r.code, s), s};
    if (p->op == Op::Diag) return {nullptr, scale_rows(ref(p->kid(0)), r.code, r.shape), s};
    return {nullptr, permute_rows(dim(p->param.rows), dim(p->param.cols), r.code, r.shape), s};
  }
  if (Expr p = r.pending) {
    if (p->op == Op::Inv) return {nullptr, solve_right(l.code, l.shape, p, s), s};
    if (p->op == Op::Diag) return {nullptr, scale_cols(l.code, l.shape, ref(p->kid(0))), s};
    return {nullptr, permute_cols(l.code, l.shape, dim(p->param.rows), dim(p->param.cols)), s};
  }
  return {nullptr, multiply(l.code, l.shape, r.code, r.shape), s};
}

// Ends in a column: right to left, so that every step is a matrix-vector
// product (A (B x)); otherwise left to right.
Code Emitter::lower_chain(const std::vector<Expr>& chain) {
  if (kind_of(chain.back()->shape) == Kind::Col) {
    Factor acc = factor(chain.back());
    for (std::size_t i = chain.size() - 1; i-- > 0;) acc = combine(factor(chain[i]), acc);
    return value_of(acc);
  }
  Factor acc = factor(chain.front());
  for (std::size_t i = 1; i < chain.size(); ++i) acc = combine(acc, factor(chain[i]));
  return value_of(acc);
}

}  // namespace matcalc::codegen
