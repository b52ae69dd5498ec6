#include "explain/explain.hpp"

#include <deque>
#include <set>
#include <span>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "diff/derivatives.hpp"
#include "diff/gradient.hpp"
#include "diff/jacobian.hpp"
#include "explain/identities.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "print/latex.hpp"
#include "print/precedence.hpp"
#include "simplify/simplify.hpp"

namespace matcalc {

namespace {

// A derivation is for a person to read: past this many steps, `grad` is the tool.
constexpr std::size_t kMaxSteps = 200;

// Which nodes contain a given symbol; nodes are immutable, so answers stay valid.
class Dependence {
 public:
  explicit Dependence(Expr sym) : sym_(sym) {}
  bool operator()(Expr e) {
    if (auto it = memo_.find(e); it != memo_.end()) return it->second;
    for (Expr n : topo_order(e)) {
      if (memo_.count(n)) continue;
      bool d = n == sym_;
      for (Expr k : n->kids) d = d || memo_.at(k);
      memo_[n] = d;
    }
    return memo_.at(e);
  }
  // The one argument of e that contains the symbol (e is linear in it).
  std::size_t carrier(Expr e) {
    std::size_t found = e->kids.size();
    for (std::size_t i = 0; i < e->kids.size(); ++i) {
      if (!(*this)(e->kids[i])) continue;
      if (found != e->kids.size()) throw std::logic_error("explain: differential is not linear in dX");
      found = i;
    }
    if (found == e->kids.size()) throw std::logic_error("explain: no argument carries dX");
    return found;
  }

 private:
  Expr sym_;
  std::unordered_map<Expr, bool> memo_;
};

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : sep) + p;
  return s;
}

std::string statement(const Identity& r) { return std::string(r.lhs) + " = " + r.rhs; }

// The expression a symmetric factor stands for: inv(S) and S^k are
// symmetric because S is.
Expr symmetric_base(Expr f) {
  while (f->op == Op::Inv || f->op == Op::MatPow) f = f->kid(0);
  return f;
}

class Deriver {
 public:
  Deriver(Derivation& d, Simplifier& simp) : d_(d), simp_(simp), carries_x_(d.variable), carries_dx_(d.dvar) {}

  void differentiate() {
    Expr f = d_.differentiated;
    if (!carries_x_(f)) {
      if (d_.order == 2)
        add_step(derivative_rule(Op::Const).name, "G does not depend on " + d_.variable->name,
                 {{nullptr, zero_like(f)}});
      else
        add_step(derivative_rule(Op::Const).name, "f does not depend on " + d_.variable->name,
                 {{zero_like(d_.dvar), d_.dvar}});
      differential_ = zero_like(f);
      return;
    }
    // One step per operation on the way to X: say at once when that is too many.
    std::size_t operations = 0;
    for (Expr n : topo_order(f))
      if (carries_x_(n) && n != d_.variable && !(n->op == Op::Transpose && n->kid(0) == d_.variable)) ++operations;
    if (operations > kMaxSteps) too_long();
    differential_ = differential_of(f, nullptr);
    while (!pending_.empty()) {
      Expr u = pending_.front();
      pending_.pop_front();
      std::vector<std::string> constant_args;
      std::vector<Expr> dargs;
      for (Expr k : u->kids) dargs.push_back(differential_of(k, &constant_args));
      Expr du = resolve(forward_differential(u, dargs));
      resolved_[placeholder_.at(u)] = du;
      differential_ = substitute(differential_, {{placeholder_.at(u), du}});
      const DerivativeRule& r = derivative_rule(u->op);
      std::string note = std::string("d(") + r.expression + ") = " + r.differential;
      if (!constant_args.empty())
        note += "; " + join(constant_args, ", ") + (constant_args.size() == 1 ? " is" : " are") + " constant";
      add_step(r.name, note, {{nullptr, differential_}});
    }
  }

  // Order 2: dG in normal form (the Hessian applied to dX), then the vec
  // identities that take it to H*vec(dX).
  void vectorize() {
    const std::pair<Expr, Expr> seed{d_.variable, d_.dvar};
    d_.hvp = directional(d_.gradient, std::span(&seed, 1), d_.f);
    if (d_.steps.empty() || d_.hvp != differential_)
      add_step("simplify", "dG in matcalc's normal form, as hvp prints it (with d" + d_.variable->name + " for V)",
               {{nullptr, d_.hvp}});
    d_.hessian = hessian(d_.f, d_.variable, d_.variable);
    // The vec identities that the differential's operators call for.
    std::set<std::string> used;
    for (Expr n : topo_order(d_.hvp)) {
      if (!carries_dx_(n)) continue;
      if (n->op == Op::Mul) used.insert("vec-of-product");
      if (n->op == Op::Transpose) used.insert("vec-of-transpose");
      if (n->op == Op::ElemMul || n->op == Op::ElemDiv) used.insert("vec-of-hadamard");
      if (n->op == Op::Trace) used.insert("trace-as-vec");
      if (n->op == Op::Sym) used.insert("vec-of-sym");
    }
    if (d_.variable->symmetric && !d_.variable->is_scalar()) used.insert("vec-of-sym");
    if (used.empty()) used.insert("vec-of-product");  // dG = c*dX
    d_.vec_rules.assign(used.begin(), used.end());
  }

  void rearrange() {
    Expr dx = d_.dvar;
    Context& cx = *dx->ctx;
    std::vector<DifferentialTerm> terms;
    if (!differential_->is_zero()) {
      std::vector<Expr> parts = split(differential_);
      bool same = parts.size() == 1 ? parts[0] == differential_
                                     : differential_->op == Op::Add && parts == differential_->kids;
      if (!same) {
        std::vector<DifferentialTerm> plain;
        for (Expr p : parts) plain.push_back({nullptr, p});
        const Identity& lin = identity_named("linearity");
        add_step(lin.name, statement(lin) + " (" + lin.conditions + ")", plain);
      }
      for (Expr p : parts) terms.push_back({constant(cx, 1), p});
    }

    // Peel what surrounds dX, one layer per term and step.
    for (;;) {
      std::vector<std::string> rules, facts;
      for (DifferentialTerm& t : terms)
        if (t.body != dx) peel(t, rules, facts);
      if (rules.empty()) break;
      std::string note;
      for (const auto& name : rules) note += (note.empty() ? "" : "; ") + statement(identity_named(name));
      if (!facts.empty()) note += "; " + join(facts, ", ");
      add_step(join(rules, ", "), note, terms);
    }

    Expr G = zero_like(dx);
    if (terms.size() > 1) {
      std::vector<Expr> weights;
      for (const auto& t : terms) weights.push_back(t.weight);
      G = simp_(add(std::move(weights)));
      const Identity& c = identity_named("collect-terms");
      add_step(c.name, statement(c), {{G, dx}});
    } else if (terms.size() == 1) {
      G = terms[0].weight;
    }
    if (d_.variable->symmetric && !d_.variable->is_scalar()) {
      Expr s = simp_(sym(G));
      if (s != G) {
        const Identity& r = identity_named("symmetric-differential");
        add_step(r.name, statement(r) + ": d" + d_.variable->name + " is symmetric", {{s, dx}});
        G = s;
      }
    }
    Expr f = d_.f;
    d_.gradient = gradients(f, std::span<const Expr>(&d_.variable, 1))[0];
    if (d_.gradient != G || d_.steps.empty())
      add_step("simplify", "the gradient in matcalc's normal form, as grad prints it", {{d_.gradient, dx}});
  }

 private:
  // d(k): nothing for a constant, dX for X, dX' for X', else a pending
  // placeholder d(k) to expand in a later step.
  Expr differential_of(Expr k, std::vector<std::string>* constants) {
    if (!carries_x_(k)) {
      if (constants && k->op != Op::Const && k->op != Op::Identity) {
        std::string s = to_text(k, d_.text_names);
        if (s.size() <= 40 && std::find(constants->begin(), constants->end(), s) == constants->end())
          constants->push_back(s);
      }
      return nullptr;
    }
    if (k == d_.variable) return d_.dvar;
    if (k->op == Op::Transpose && k->kid(0) == d_.variable) return transpose(d_.dvar);
    if (auto it = placeholder_.find(k); it != placeholder_.end()) return it->second;
    // A name no source can contain, unique to k; it prints as d(k) or dC.
    Expr p = symbol(*k->ctx, "d#" + std::to_string(k->id), k->shape, k->symmetric);
    placeholder_[k] = p;
    pending_.push_back(k);
    auto abbreviated = d_.text_names.find(k);
    if (abbreviated != d_.text_names.end()) {  // dC for an abbreviation C
      d_.text_names[p] = "d" + abbreviated->second;
      d_.latex_names[p] = "\\mathrm{d}" + d_.latex_names.at(k);
    } else {
      d_.text_names[p] = "d(" + to_text(k, d_.text_names) + ")";
      d_.latex_names[p] = "\\mathrm{d}\\left(" + to_latex(k, d_.latex_names) + "\\right)";
    }
    d_.expanded[p] = full_differential(k);
    return p;
  }

  // e with the differentials expanded in earlier steps put in (d(u) met again).
  Expr resolve(Expr e) {
    for (;;) {
      bool stale = false;
      for (Expr n : topo_order(e)) stale = stale || resolved_.count(n);
      if (!stale) return e;
      e = substitute(e, resolved_);
    }
  }

  // The whole differential of u in dX, by the same rules.
  Expr full_differential(Expr u) {
    for (Expr n : topo_order(u)) {
      if (full_.count(n)) continue;
      if (n == d_.variable) {
        full_[n] = d_.dvar;
        continue;
      }
      std::vector<Expr> dk;
      for (Expr k : n->kids) dk.push_back(full_.at(k));
      full_[n] = carries_x_(n) ? forward_differential(n, dk) : nullptr;
    }
    return full_.at(u);
  }

  // Linearity: the differential as a sum of terms, each with one dX.
  std::vector<Expr> split(Expr e) {
    if (!carries_dx_(e)) return {};
    if (e->op == Op::Add) {
      std::vector<Expr> out;
      for (Expr k : e->kids)
        for (Expr t : split(k)) out.push_back(t);
      return out;
    }
    if (e->kids.empty()) return {e};
    std::size_t i = carries_dx_.carrier(e);
    std::vector<Expr> parts = split(e->kids[i]);
    if (parts.size() == 1 && parts[0] == e->kids[i]) return {e};
    std::vector<Expr> out;
    for (Expr p : parts) {
      std::vector<Expr> kids = e->kids;
      kids[i] = p;
      out.push_back(rebuild(e, std::move(kids)));
    }
    return out;
  }

  // weight : op(..., B, ...) = adjoint(weight) : B, where B carries dX.
  void peel(DifferentialTerm& t, std::vector<std::string>& rules, std::vector<std::string>& facts) {
    Expr E = t.body;
    if (!carries_dx_(E)) {  // dX folded away inside a product kept for its domain (0*log(a)*...): no weight
      t.weight = zero_like(d_.dvar);
      t.body = d_.dvar;
      return;
    }
    std::size_t i = carries_dx_.carrier(E);
    std::string rule = peel_rule(E, i);
    std::vector<Expr> transposed;  // what the identity transposes
    if (E->op == Op::Mul)
      for (std::size_t j = 0; j < E->kids.size(); ++j)
        if (j != i) transposed.push_back(E->kids[j]);
    if (E->op == Op::Transpose) transposed.push_back(t.weight);
    step_into(t, i);
    if (E->op == Op::Trace && t.body->op == Op::Mul && t.body != d_.dvar) {  // tr(A*X*B) = A'*B' : X at once
      rule = "trace-as-frobenius";
      Expr chain = t.body;
      std::size_t j = carries_dx_.carrier(chain);
      for (std::size_t o = 0; o < chain->kids.size(); ++o)
        if (o != j) transposed.push_back(chain->kids[o]);
      step_into(t, j);
    }
    if (std::find(rules.begin(), rules.end(), rule) == rules.end()) rules.push_back(rule);
    for (Expr f : transposed) note_symmetry(f, facts);
    // Moving a scalar coefficient is no step of its own.
    if (rule == "frobenius-scalar-factor" && t.body != d_.dvar) peel(t, rules, facts);
  }

  void step_into(DifferentialTerm& t, std::size_t i) {
    std::vector<bool> wanted(t.body->kids.size(), false);
    wanted[i] = true;
    Expr G = propagate_adjoint(t.body, t.weight, wanted)[i];
    t = {simp_(G), t.body->kids[i]};
  }

  // The Frobenius identity that peels the operator of E off its argument i,
  // which carries dX. Only operators linear in that argument can hold dX in
  // a linearized differential; they are listed here, as data, with the row
  // of identities.cpp that peels them. Any other operator is a logic error
  // that names it (a new linear operator fails tests/explain until it has
  // its row here; a non-linear one never gets here).
  static std::string peel_rule(Expr E, std::size_t i) {
    if (E->op == Op::Mul) return E->kids[i]->is_scalar() ? "frobenius-scalar-factor" : "frobenius-product";
    if (E->op == Op::Kron) return i == 0 ? "frobenius-kron-left" : "frobenius-kron-right";
    struct Peel {
      Op op;
      const char* rule;
    };
    static constexpr Peel kPeels[] = {
        {Op::Trace, "trace-of-identity-product"},
        {Op::Transpose, "frobenius-transpose"},
        {Op::ElemMul, "frobenius-hadamard"},
        {Op::ElemDiv, "frobenius-quotient"},
        {Op::Sum, "frobenius-sum"},
        {Op::DiagPart, "frobenius-diag-of-matrix"},
        {Op::Diag, "frobenius-diag-of-vector"},
        {Op::Vec, "frobenius-vec"},
        {Op::Reshape, "frobenius-reshape"},
        {Op::Sym, "frobenius-sym"},
    };
    for (const Peel& p : kPeels)
      if (p.op == E->op) return p.rule;
    throw std::logic_error("explain: dX inside the non-linear " + std::string(op_name(E->op)));
  }

  // A symmetric factor that an identity transposes stays as it is: say why.
  void note_symmetry(Expr f, std::vector<std::string>& facts) {
    std::vector<Expr> factors = f->op == Op::Mul ? f->kids : std::vector<Expr>{f};
    for (Expr g : factors) {
      if (!g->symmetric || g->is_scalar() || g->op == Op::Identity) continue;
      std::string fact = to_text(symmetric_base(g), d_.text_names) + " is symmetric";
      if (std::find(facts.begin(), facts.end(), fact) == facts.end()) facts.push_back(fact);
    }
  }

  [[noreturn]] static void too_long() {
    throw Error(ErrorKind::Limit, "the derivation takes more than " + std::to_string(kMaxSteps) +
                                      " steps; explain is for expressions a person reads (grad gives the result)");
  }

  void add_step(std::string rule, std::string note, std::vector<DifferentialTerm> terms) {
    if (d_.steps.size() >= kMaxSteps) too_long();
    d_.steps.push_back({std::move(rule), std::move(note), std::move(terms)});
  }

  Derivation& d_;
  Simplifier& simp_;
  Dependence carries_x_, carries_dx_;
  Expr differential_ = nullptr;
  std::deque<Expr> pending_;                        // subexpressions whose d(u) is still to expand
  std::unordered_map<Expr, Expr> placeholder_;      // u -> the symbol d(u)
  std::unordered_map<Expr, Expr> resolved_;         // d(u) already expanded -> its expansion
  std::unordered_map<Expr, Expr> full_;             // u -> its differential in dX (nullptr: constant)
};

// ---------------------------------------------------------------- printing

struct Dialect {
  std::string (*print)(Expr, const Spellings&);
  const Spellings* names;
  std::string lparen, rparen, frob;
};

std::string print_terms(const std::vector<DifferentialTerm>& terms, const Dialect& dl) {
  // An operand in parentheses when it binds looser than `max_loose` allows.
  auto operand = [&](Expr e, int loosest) {
    std::string s = dl.print(e, *dl.names);
    bool named = dl.names->count(e) > 0;
    return !named && precedence(e) <= loosest ? dl.lparen + s + dl.rparen : s;
  };
  if (terms.empty()) return "0";
  std::string out;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const DifferentialTerm& t = terms[i];
    // The sign goes in front of the term: - A : X, not + -A : X.
    Expr signed_part = t.weight ? t.weight : t.body;
    bool negative = split_coefficient(signed_part).first < 0 && (i > 0 || t.weight);
    Expr magnitude = negative ? neg(signed_part) : signed_part;
    std::string s = t.weight ? operand(magnitude, kPrecFrob) + dl.frob + operand(t.body, kPrecFrob)
                    : i == 0 ? dl.print(magnitude, *dl.names)
                             : operand(magnitude, kPrecSum);
    out += i == 0 ? (negative ? "-" : "") + s : (negative ? " - " : " + ") + s;
  }
  return out;
}

std::string text_printer(Expr e, const Spellings& s) { return to_text(e, s); }
std::string latex_printer(Expr e, const Spellings& s) { return to_latex(e, s); }

// Long matrix subexpressions that the steps repeat (arguments of inv,
// logdet and det, and anything f uses twice) get one-letter names, as a
// teacher writes "let C = W*W' + s^2*I". Only outermost ones are named.
void abbreviate(Derivation& d, std::set<std::string> taken) {
  constexpr std::size_t kMinNodes = 6;  // W*W' + s^2*I has 8
  std::vector<Expr> order = topo_order(d.differentiated);
  std::unordered_map<Expr, std::size_t> tree_size;  // saturated: only "large enough" matters
  for (Expr n : order) {
    std::size_t s = 1;
    for (Expr k : n->kids) s = std::min(s + tree_size.at(k), kMinNodes);
    tree_size[n] = s;
  }
  std::unordered_map<Expr, int> uses;
  std::unordered_set<Expr> under_inverse, inside_named;
  for (Expr n : order)
    for (Expr k : n->kids) {
      ++uses[k];
      if (n->op == Op::Inv || n->op == Op::LogDet || n->op == Op::Det) under_inverse.insert(k);
    }
  for (Expr n : order)
    for (const Dim* dm : {&n->shape.rows, &n->shape.cols}) taken.insert(dm->str());
  const char* letters[] = {"C", "M", "K", "B", "D", "E", "F", "G", "H", "L", "P", "Q", "R", "T", "U", "V", "Z"};
  std::size_t next = 0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Expr n = *it;
    if (n == d.differentiated || n->is_scalar() || n->kids.empty() || inside_named.count(n)) continue;
    if (n->op == Op::Inv || n->op == Op::Transpose) continue;
    if (!under_inverse.count(n) && uses[n] < 2) continue;
    if (tree_size.at(n) < kMinNodes) continue;
    while (next < std::size(letters) && taken.count(letters[next])) ++next;
    if (next == std::size(letters)) return;
    std::string name = letters[next++];
    d.abbreviations.push_back({name, n});
    d.text_names[n] = name;
    d.latex_names[n] = name;
    for (Expr k : topo_order(n)) inside_named.insert(k);
  }
}

}  // namespace

namespace {

Derivation derivation(Expr written, Expr x, int order) {
  if (x->op != Op::Symbol) throw Error(ErrorKind::Usage, "explain differentiates w.r.t. a symbol");
  if (!written->is_scalar())
    throw Error(ErrorKind::Shape, "explain needs a scalar function; this one is " + written->shape.str());
  Derivation d;
  d.written = written;
  d.order = order;
  Simplifier simp([&](const std::string& rule, Expr, Expr) {
    if (std::find(d.simplifications.begin(), d.simplifications.end(), rule) == d.simplifications.end())
      d.simplifications.push_back(rule);
  });
  d.f = simp(written);
  d.variable = x;
  d.differentiated = d.f;
  if (order == 2) {
    d.gradient = gradients(d.f, std::span<const Expr>(&x, 1))[0];
    d.differentiated = d.gradient;
  }

  std::set<std::string> taken;
  for (Expr n : topo_order(written))
    if (n->op == Op::Symbol) taken.insert(n->name);
  std::string name = "d" + x->name;
  while (taken.count(name)) name += "_";
  d.dvar = symbol(*x->ctx, name, x->shape, x->symmetric);
  d.latex_names[d.dvar] = "\\mathrm{d}" + to_latex(x);
  d.plain_latex_names = d.latex_names;
  abbreviate(d, taken);

  Simplifier plain;
  Deriver deriver(d, plain);
  deriver.differentiate();
  if (order == 2)
    deriver.vectorize();
  else
    deriver.rearrange();
  return d;
}

}  // namespace

Derivation explain(Expr written, Expr x) { return derivation(written, x, 1); }
Derivation explain_hessian(Expr written, Expr x) { return derivation(written, x, 2); }

namespace {
// The step's terms with every pending d(u) replaced by its expansion in dX.
std::vector<DifferentialTerm> expanded_terms(const Derivation& d, const DerivationStep& s) {
  std::vector<DifferentialTerm> terms = s.terms;
  for (auto& t : terms) t.body = substitute(t.body, d.expanded);
  return terms;
}
}  // namespace

std::string step_text(const Derivation& d, const DerivationStep& s) {
  static const Spellings none;
  return print_terms(expanded_terms(d, s), {text_printer, &none, "(", ")", " : "});
}

std::string step_display(const Derivation& d, const DerivationStep& s) {
  return print_terms(s.terms, {text_printer, &d.text_names, "(", ")", " : "});
}

std::string step_latex(const Derivation& d, const DerivationStep& s) {
  return print_terms(s.terms, {latex_printer, &d.latex_names, "\\left(", "\\right)", " : "});
}

std::string step_latex_plain(const Derivation& d, const DerivationStep& s) {
  return print_terms(expanded_terms(d, s), {latex_printer, &d.plain_latex_names, "\\left(", "\\right)", " : "});
}

std::string declarations(const Derivation& d) {
  std::string out;
  for (Expr n : topo_order(d.written))
    if (n->op == Op::Symbol) out += to_declaration(n) + "; ";
  return out + to_declaration(d.dvar);
}

// ---------------------------------------------------------------- formats

namespace {
// Order 2: the statements of the vec identities used, "; "-joined.
std::string vec_rule_statements(const Derivation& d) {
  std::vector<std::string> parts;
  for (const std::string& name : d.vec_rules) {
    const Identity& r = identity_named(name);
    parts.push_back(std::string(r.lhs) + " = " + r.rhs);
  }
  return join(parts, "; ");
}
}  // namespace

std::string format_text(const Derivation& d) {
  std::string out = "f = " + to_text(d.written) + "\n";
  if (d.f != d.written) out += "  = " + to_text(d.f) + "\n      [simplify] " + join(d.simplifications, ", ") + "\n";
  out += "\n";
  if (d.order == 2) out += "The gradient (matcalc explain derives it) is\nG = " + to_text(d.gradient) + "\n\n";
  for (const auto& [name, u] : d.abbreviations) out += "Let " + name + " = " + to_text(u) + ".\n";
  if (!d.abbreviations.empty()) out += "\n";
  out += (d.order == 2 ? "dG = d(" : "df = d(") + to_text(d.differentiated, d.text_names) + ")\n";
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const DerivationStep& s = d.steps[i];
    bool last = i + 1 == d.steps.size();  // the result, written out
    out += "   = " + (last ? step_text(d, s) : step_display(d, s)) + "\n";
    out += "       [" + s.rule + "] " + s.note + "\n";
  }
  if (d.order == 2) {
    const std::string dx = to_text(d.dvar);
    out += "\nvec(dG) = H*vec(" + dx + ")\n       [" + join(d.vec_rules, ", ") + "] " + vec_rule_statements(d) + "\n";
    out +=
        "\nso the Hessian is " + to_text(d.hessian) + "\nand the Hessian applied to V (hvp) is dG at " + dx + " = V\n";
    return out;
  }
  out += "\nso the gradient is " + to_text(d.gradient) + "\n";
  return out;
}

namespace {
std::string latex_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '&' || c == '%' || c == '#' || c == '$' || c == '{' || c == '}') out += '\\';
    if (c == '\\') {
      out += "\\textbackslash{}";
      continue;
    }
    if (c == '^' || c == '~') {
      out += std::string("\\") + c + "{}";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

std::string format_latex(const Derivation& d) {
  std::string fx = to_latex(d.f);
  std::string out = "\\begin{aligned}\n";
  out += "f &= " + to_latex(d.written) + " \\\\\n";
  if (d.f != d.written) out += "&= " + fx + " && \\text{simplify} \\\\\n";
  for (const auto& [name, u] : d.abbreviations) out += name + " &= " + to_latex(u) + " \\\\\n";
  if (d.order == 2) out += "G &= " + to_latex(d.gradient) + " && \\text{the gradient} \\\\\n";
  out += std::string(d.order == 2 ? "\\mathrm{d}G" : "\\mathrm{d}f") + " &= \\mathrm{d}\\left(" +
         to_latex(d.differentiated, d.latex_names) + "\\right) \\\\\n";
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const DerivationStep& s = d.steps[i];
    bool last = i + 1 == d.steps.size();
    out += "&= " + (last ? step_latex_plain(d, s) : step_latex(d, s)) + " && \\text{" + latex_text(s.rule) + "} \\\\\n";
  }
  if (d.order == 2)
    out += "\\frac{\\partial^2 f}{\\partial \\operatorname{vec}(" + to_latex(d.variable) +
           ")^2} &= " + to_latex(d.hessian) + " && \\text{" + latex_text(join(d.vec_rules, ", ")) + "}\n";
  else
    out += "\\frac{\\partial f}{\\partial " + to_latex(d.variable) + "} &= " + to_latex(d.gradient) + "\n";
  out += "\\end{aligned}\n";
  return out;
}

std::string format_markdown(const Derivation& d) {
  std::string x = to_latex(d.variable);
  std::string out = "Derivative of $f = " + to_latex(d.written) + "$ with respect to $" + x + "$.\n\n";
  if (d.f != d.written)
    out += "Simplified first (" + join(d.simplifications, ", ") + "): $f = " + to_latex(d.f) + "$.\n\n";
  for (const auto& [name, u] : d.abbreviations) out += "Let $" + name + " = " + to_latex(u) + "$.\n\n";
  if (d.order == 2) out += "The gradient is $G = " + to_latex(d.gradient) + "$.\n\n";
  out += std::string(d.order == 2 ? "$$\\mathrm{d}G" : "$$\\mathrm{d}f") + " = \\mathrm{d}\\left(" +
         to_latex(d.differentiated, d.latex_names) + "\\right)$$\n\n";
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const DerivationStep& s = d.steps[i];
    bool last = i + 1 == d.steps.size();
    out += std::to_string(i + 1) + ". **" + s.rule + "**: `" + s.note + "`\n\n";
    out += "   $$= " + (last ? step_latex_plain(d, s) : step_latex(d, s)) + "$$\n\n";
  }
  if (d.order == 2) {
    out += "Then $\\operatorname{vec}(\\mathrm{d}G) = H \\operatorname{vec}(\\mathrm{d}" + x + ")$ by " +
           join(d.vec_rules, ", ") + " (`" + vec_rule_statements(d) +
           "`), so the Hessian is\n\n$$H = " + to_latex(d.hessian) + "$$\n";
    return out;
  }
  out += "So the gradient is\n\n$$\\frac{\\partial f}{\\partial " + x + "} = " + to_latex(d.gradient) + "$$\n";
  return out;
}

nlohmann::ordered_json format_json(const Derivation& d) {
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const auto& s : d.steps)
    steps.push_back({{"rule", s.rule},
                     {"differential", step_text(d, s)},
                     {"display", step_display(d, s)},
                     {"note", s.note},
                     {"latex", step_latex(d, s)}});
  nlohmann::ordered_json out;
  out["expression"] = to_text(d.f);
  out["written"] = to_text(d.written);
  out["wrt"] = d.variable->name;
  out["differential_symbol"] = d.dvar->name;
  out["declarations"] = declarations(d);
  nlohmann::ordered_json abbreviations = nlohmann::ordered_json::object();
  for (const auto& [name, u] : d.abbreviations) abbreviations[name] = to_text(u);
  out["abbreviations"] = std::move(abbreviations);  // used by "display" only
  out["steps"] = std::move(steps);
  out["gradient"] = to_text(d.gradient);
  if (d.order == 2) {
    out["order"] = 2;
    out["hvp"] = to_text(d.hvp);
    out["vec_rules"] = d.vec_rules;
    out["hessian"] = to_text(d.hessian);
  }
  return out;
}

}  // namespace matcalc
