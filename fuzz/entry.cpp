#include "entry.hpp"

#include <optional>
#include <stdexcept>
#include <vector>

#include "matcalc/matcalc.hpp"

namespace matcalc::fuzz {

namespace {

// A bug, not bad input: escapes the entry (libFuzzer reports the uncaught
// exception; the regression test fails).
[[noreturn]] void bug(const std::string& what) { throw std::logic_error("fuzz invariant broken: " + what); }

// Printed text must compile back (same symbols, same session) to the same
// expression.
void round_trip(Session& s, Expression e, const std::string& decls) {
  std::string text = e.text();
  if (text.find('\n') != std::string::npos) bug("text output spans lines: " + text);
  Expression again;
  try {
    again = s.load(text, decls).expression;
  } catch (const Error& err) {
    // Printed text may nest deeper than the parser accepts; anything else is a bug.
    if (err.kind() == ErrorKind::Limit) return;
    bug("printed text does not compile: " + text + "  (" + err.what() + ")  decls: " + decls);
  }
  if (!(again == e)) bug("printed text compiles to another node: " + text + "  ->  " + again.text());
  (void)e.latex();
  (void)e.json();
}

}  // namespace

void expression(std::string_view input) {
  try {
    check_syntax(std::string(input));
  } catch (const Error&) {
  }
}

void declarations(std::string_view input) {
  try {
    check_declarations(std::string(input));
  } catch (const Error&) {
  }
}

void values(std::string_view input) {
  static const char* kProgram =
      "W: matrix(n,k); S: symmetric(n); x: vector(n); s: scalar; v: vector(n*k); r: matrix(1,k); "
      "logdet(S) + x'*inv(S)*x + s*sum(W) + v'*vec(W) + r*W'*x + log(s^2 + 1)";
  try {
    Session s;
    Function f = s.load(kProgram);
    Values v = read_values_json(f, std::string(input), "values");
    std::vector<Expression> roots{s.simplify(f.expression)};
    for (Expression g : s.gradients(f, {"W", "S", "x", "s"})) roots.push_back(g);
    (void)s.evaluate(roots, v);
  } catch (const Error&) {
  }
}

// explain's steps print as text that compiles (with dX declared), and it
// ends with the gradient grad gives. A Limit (too long to read) is fine.
void explained(Session& s, const Function& f, const std::string& x, Expression gradient) {
  std::optional<Explanation> d;
  try {
    d.emplace(s.explain(f, x));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Limit) return;
    throw;
  }
  if (!(d->gradient() == gradient))
    bug("explain ends with " + d->gradient().text() + ", grad gives " + gradient.text());
  const std::string decls = d->declarations();
  for (const std::string& text : d->steps()) {
    try {
      Session fresh;
      fresh.load(text, decls);
    } catch (const Error& e) {
      bug("explain step '" + text + "' does not compile: " + e.what());
    }
  }
}

// The Hessian is numel(X) x numel(X) and prints as text that compiles back
// to it; hvp has X's shape. A Limit is fine.
void second_order(Session& s, const Function& f, const std::string& x, const std::string& decls) {
  const std::string shape = f.symbol(x).shape();
  try {
    Expression h = s.hessian(f, x);
    Expression v = s.hvp(f, x, "V_");
    if (v.shape() != shape) bug("hvp w.r.t. " + x + " is " + v.shape() + ", not " + shape);
    const std::string j = s.jacobian(f, x).shape();  // 1 x N, or scalar
    const std::string n = j == "scalar" ? "" : j.substr(4);
    if (j == "scalar" ? !h.is_scalar() : h.shape() != n + " x " + n)
      bug("the Hessian w.r.t. " + x + " is " + h.shape() + ", the Jacobian " + j);
    round_trip(s, s.simplify(h), decls);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Limit) return;
    throw;
  }
}

void pipeline(std::string_view input) {
  try {
    Session s;
    Function f = s.load(std::string(input));
    const std::string decls = f.declaration_text();
    Expression value = s.simplify(f.expression);
    round_trip(s, value, decls);
    if (!value.is_scalar()) return;
    std::vector<std::string> wrt;
    for (const SymbolInfo& sym : f.symbols) wrt.push_back(sym.name);
    std::vector<Expression> gs = s.gradients(f, wrt);
    for (std::size_t i = 0; i < gs.size(); ++i) {
      Expression x = f.symbol(wrt[i]);
      if (gs[i].shape() != x.shape())
        bug("the gradient w.r.t. " + wrt[i] + " is " + gs[i].shape() + ", not " + x.shape());
      round_trip(s, s.simplify(gs[i]), decls);
    }
    if (!wrt.empty()) explained(s, f, wrt[0], gs[0]);
    if (!wrt.empty()) second_order(s, f, wrt[0], decls);
  } catch (const Error&) {
  }
}

Entry entry_by_name(const std::string& name) {
  if (name == "expression") return expression;
  if (name == "declarations") return declarations;
  if (name == "values") return values;
  if (name == "pipeline") return pipeline;
  return nullptr;
}

}  // namespace matcalc::fuzz
