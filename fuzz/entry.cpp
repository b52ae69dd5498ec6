#include "entry.hpp"

#include <sstream>
#include <stdexcept>
#include <vector>

#include "diff/gradient.hpp"
#include "eval/evaluate.hpp"
#include "eval/values.hpp"
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

// A declaration that gives `sym` its exact shape: `x: vector(n)`, `M: matrix(1,k)`.
std::string declaration_of(Expr sym) {
  const Shape& s = sym->shape;
  std::string type;
  if (s.is_scalar()) type = "scalar";
  else if (sym->symmetric) type = "symmetric(" + s.rows.str() + ")";
  else if (s.is_col()) type = "vector(" + s.rows.str() + ")";
  else type = "matrix(" + s.rows.str() + "," + s.cols.str() + ")";
  return sym->name + ": " + type;
}

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

void pipeline(std::string_view input) {
  try {
    Context cx;
    TypedProgram p = compile(cx, std::string(input), "");
    std::string decls;
    for (const auto& [name, sym] : p.symbols) decls += (decls.empty() ? "" : "; ") + declaration_of(sym);
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
