#include "entry.hpp"

#include <sstream>
#include <stdexcept>
#include <vector>

#include "diff/gradient.hpp"
#include "eval/evaluate.hpp"
#include "eval/values.hpp"
#include "explain/explain.hpp"
#include "ir/error.hpp"
#include "parse/parser.hpp"
#include "parse/typecheck.hpp"
#include "print/json.hpp"
#include "print/latex.hpp"
#include "print/text.hpp"
#include "simplify/simplify.hpp"

namespace matcalc::fuzz {

namespace {

// A bug, not bad input: escapes the entry (libFuzzer reports the uncaught
// exception; the regression test fails).
[[noreturn]] void bug(const std::string& what) { throw std::logic_error("fuzz invariant broken: " + what); }

// Printed text must compile back (same symbols, same context) to the same node.
void round_trip(Context& cx, Expr e, const std::string& decls) {
  std::string text = to_text(e);
  if (text.find('\n') != std::string::npos) bug("text output spans lines: " + text);
  Expr again = nullptr;
  try {
    again = compile(cx, text, decls).expr;
  } catch (const Error& err) {
    // Printed text may nest deeper than the parser accepts; anything else is a bug.
    if (err.kind() == ErrorKind::Limit) return;
    bug("printed text does not compile: " + text + "  (" + err.what() + ")  decls: " + decls);
  }
  if (again != e) bug("printed text compiles to another node: " + text + "  ->  " + to_text(again));
  (void)to_latex(e);
  (void)to_json_tree(e).dump();
}

}  // namespace

void expression(std::string_view input) {
  try {
    (void)parse_expression(std::string(input));
  } catch (const Error&) {
  }
}

void declarations(std::string_view input) {
  try {
    (void)parse_declarations(std::string(input));
  } catch (const Error&) {
  }
}

void values(std::string_view input) {
  static const char* kProgram =
      "W: matrix(n,k); S: symmetric(n); x: vector(n); s: scalar; v: vector(n*k); r: matrix(1,k); "
      "logdet(S) + x'*inv(S)*x + s*sum(W) + v'*vec(W) + r*W'*x + log(s^2 + 1)";
  try {
    Context cx;
    TypedProgram p = compile(cx, kProgram, "");
    std::istringstream in{std::string(input)};
    Bindings b = read_values(parse_values_json(in, "values"), p.symbols);
    std::vector<Expr> roots{p.expr};
    for (const char* name : {"W", "S", "x", "s"}) roots.push_back(gradient(p.expr, p.symbols.at(name)));
    (void)evaluate(roots, b);
  } catch (const Error&) {
  }
}

// explain's steps print as text that compiles (with dX declared), and it
// ends with the gradient grad gives. A Limit (too long to read) is fine.
void explained(Expr f, Expr x, Expr gradient) {
  Derivation d;
  try {
    d = explain(f, x);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Limit) return;
    throw;
  }
  if (d.gradient != gradient) bug("explain ends with " + to_text(d.gradient) + ", grad gives " + to_text(gradient));
  const std::string decls = declarations(d);
  for (const auto& step : d.steps) {
    std::string text = step_text(d, step);
    try {
      Context cx;
      compile(cx, text, decls);
    } catch (const Error& e) {
      bug("explain step [" + step.rule + "] '" + text + "' does not compile: " + e.what());
    }
  }
}

void pipeline(std::string_view input) {
  try {
    Context cx;
    TypedProgram p = compile(cx, std::string(input), "");
    std::string decls;
    for (const auto& [name, sym] : p.symbols) decls += (decls.empty() ? "" : "; ") + to_declaration(sym);
    Expr f = simplify(p.expr);
    round_trip(cx, f, decls);
    if (!f->is_scalar()) return;
    std::vector<Expr> wrt;
    for (const auto& name : p.order) wrt.push_back(p.symbols.at(name));
    std::vector<Expr> gs = gradients(f, wrt);
    for (std::size_t i = 0; i < gs.size(); ++i) {
      if (!(gs[i]->shape == wrt[i]->shape))
        bug("the gradient w.r.t. " + wrt[i]->name + " is " + gs[i]->shape.str() + ", not " + wrt[i]->shape.str());
      round_trip(cx, simplify(gs[i]), decls);
    }
    if (!wrt.empty()) explained(p.expr, wrt[0], gs[0]);
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
