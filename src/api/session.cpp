// The library API (include/matcalc/matcalc.hpp) over the engine's modules:
// the pipeline's orchestration (parse, infer, simplify, differentiate,
// print, evaluate, check, explain) in one place, with every error located
// in the text it points into.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "diff/gradient.hpp"
#include "diff/jacobian.hpp"
#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "eval/values.hpp"
#include "explain/explain.hpp"
#include "explain/rulebook.hpp"
#include "ir/builders.hpp"
#include "ir/node.hpp"
#include "matcalc/matcalc.hpp"
#include "parse/parser.hpp"
#include "parse/suggest.hpp"
#include "parse/typecheck.hpp"
#include "print/eigen.hpp"
#include "print/json.hpp"
#include "print/latex.hpp"
#include "print/numpy.hpp"
#include "print/text.hpp"
#include "simplify/simplify.hpp"

namespace matcalc {

namespace {

// Runs `f`, locating any Error it throws in `source`.
template <class F>
auto located(ErrorSource source, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.source() != ErrorSource::None) throw;
    throw e.in(source);
  }
}

std::map<std::string, Expr> symbol_map(const Function& f) {
  std::map<std::string, Expr> out;
  for (const auto& s : f.symbols) out.emplace(s.name, s.symbol.node());
  return out;
}

// How a values file is read for f: its dimensions may be keys; its symbols
// of one entry that are not scalars (x: vector(1)) may be written [3].
ValuesContext values_context(const Function& f, const std::string& source,
                             const std::map<std::string, std::int64_t>& dims) {
  ValuesContext c{.source = source, .dimensions = f.dimensions, .dims = dims, .one_entry = {}};
  // The declarations as written: a vector(1) is typed 1 x 1 like a scalar.
  Declarations decls = parse_program(f.source).decls;
  if (!f.declarations.empty()) {
    Declarations extra = parse_declarations(f.declarations);
    decls.insert(decls.end(), extra.begin(), extra.end());
  }
  for (const Declaration& d : decls)
    if (d.kind != Declaration::Kind::Scalar) c.one_entry.insert(d.name);  // only 1 x 1 ones matter
  return c;
}

std::vector<Expr> nodes(const std::vector<Expression>& es) {
  std::vector<Expr> out;
  out.reserve(es.size());
  for (Expression e : es) out.push_back(e.node());
  return out;
}

// The wrt names as symbols: each a symbol of f, none twice.
std::vector<Expr> wrt_symbols(const Function& f, const std::vector<std::string>& names) {
  std::vector<Expr> out;
  for (const auto& n : names) {
    Expr x = f.symbol(n).node();
    if (std::find(out.begin(), out.end(), x) != out.end()) throw Error(ErrorKind::Usage, "--wrt " + n + " given twice");
    out.push_back(x);
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------ Expression

std::string Expression::text() const { return to_text(node_); }
std::string Expression::latex() const { return to_latex(node_); }
std::string Expression::json() const { return to_json_tree(node_).dump(); }
std::string Expression::shape() const { return node_->shape.str(); }
bool Expression::is_scalar() const { return node_->is_scalar(); }

// -------------------------------------------------------------- Function

Expression Function::symbol(const std::string& name) const {
  for (const auto& s : symbols)
    if (s.name == name) return s.symbol;
  throw Error(ErrorKind::Name, "'" + name + "' is not a symbol of the expression");
}

std::string Function::declaration_text() const {
  std::string out;
  for (const auto& s : symbols) out += (out.empty() ? "" : "; ") + s.declaration;
  return out;
}

Values read_values_file(const Function& f, const std::string& path, const std::map<std::string, std::int64_t>& dims) {
  Bindings b = read_values_file(path, symbol_map(f), values_context(f, "", dims));
  return Values{std::move(b.values), std::move(b.dims)};
}

Values read_values_json(const Function& f, const std::string& json_text, const std::string& source,
                        const std::map<std::string, std::int64_t>& dims) {
  std::istringstream in(json_text);
  Bindings b = read_values(parse_values_json(in, source), symbol_map(f), values_context(f, source, dims));
  return Values{std::move(b.values), std::move(b.dims)};
}

namespace {

std::map<std::string, std::string> kinds_of(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (const auto& item : j.items()) {
    const std::string& name = item.key();
    const nlohmann::json& v = item.value();
    auto all = [&](auto pred) { return !v.empty() && std::all_of(v.begin(), v.end(), pred); };
    if (v.is_number())
      out[name] = "scalar";
    else if (v.is_array() && all([](const nlohmann::json& e) { return e.is_number(); }))
      out[name] = "vector";
    else if (v.is_array() && all([](const nlohmann::json& e) { return e.is_array(); }))
      out[name] = "matrix";
  }
  return out;
}

// Reads with the values file's own limits; any failure gives no kinds.
std::map<std::string, std::string> kinds_of(std::istream& in) {
  try {
    return kinds_of(parse_values_json(in, "values"));
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

std::map<std::string, std::string> value_kinds_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {};
  std::ifstream in(path);
  if (!in) return {};
  return kinds_of(in);
}

std::map<std::string, std::string> value_kinds_json(const std::string& json_text) {
  std::istringstream in(json_text);
  return kinds_of(in);
}

std::string closest_name(const std::string& word, const std::vector<std::string>& candidates,
                         std::size_t max_distance) {
  std::string best;
  std::size_t best_d = max_distance + 1;
  for (const std::string& c : candidates)
    if (std::size_t d = edit_distance(word, c); d < best_d) best = c, best_d = d;
  return best;
}

void check_syntax(const std::string& expression) {
  located(ErrorSource::Expression, [&] { (void)parse_expression(expression); });
}

void check_declarations(const std::string& declarations) {
  located(ErrorSource::Declarations, [&] { (void)parse_declarations(declarations); });
}

std::string value_json(const Eigen::MatrixXd& m) { return value_to_json(m).dump(); }

std::size_t max_source_bytes() { return kMaxSourceBytes; }

double check_flops_limit() { return kMaxCheckFlops; }

namespace {

// "h = 6.06e-06" (or a range), and the second step when it was taken.
std::string steps_text(const CheckedGradient& r) {
  std::string h = fmt::format("{:.3g}", r.step_min);
  if (fmt::format("{:.3g}", r.step_max) != h) h += fmt::format(" to {:.3g}", r.step_max);
  return "h = " + h + (r.two_steps ? " and twice that" : "");
}

// How the central differences were taken, as `check` prints it.
std::string how_text(const CheckedGradient& r, Derivative what) {
  if (what == Derivative::Gradient)
    return fmt::format("central differences, {}; rounding noise of f {:.2g}", steps_text(r), r.f_noise);
  const char* of = what == Derivative::Jacobian ? "the expression" : "the gradient";
  std::string along;
  if (r.unit_directions > 0)
    along = fmt::format("every unit direction ({}) and {} random one{}", r.unit_directions, r.random_directions,
                        r.random_directions == 1 ? "" : "s");
  else
    along = fmt::format("{} random directions", r.random_directions);
  return fmt::format("central differences of {} along {}, {}; rounding noise of {} {:.2g}", of, along, steps_text(r),
                     of, r.f_noise);
}

// The verdict and its numbers, as `check` prints them after the variable.
std::string verdict_text(const CheckedGradient& r, Derivative what) {
  const std::string how = how_text(r, what);
  switch (r.verdict) {
    case GradientVerdict::Agrees:
      return fmt::format("ok  relative error {:.3g} (noise floor {:.2g}: {})", r.relative_error, r.noise_floor, how);
    case GradientVerdict::WithinNoise:
      return fmt::format("ok  relative error {:.3g}, above the tolerance but within the noise floor {:.2g} ({})",
                         r.relative_error, r.noise_floor, how);
    case GradientVerdict::RoundingLevel:
      return fmt::format("ok  agrees (both are at rounding level: norm {:.2g}, and {:.2g} by {})", r.gradient_norm,
                         r.fd_norm, how);
    case GradientVerdict::Mismatch:
      return fmt::format("MISMATCH  relative error {:.3g} (noise floor {:.2g}: {})", r.relative_error, r.noise_floor,
                         how);
    case GradientVerdict::Unresolved:
      if (!std::isfinite(r.noise_floor))
        return fmt::format(
            "UNRESOLVED  (the function, its gradient or the central differences are not finite here: "
            "norm {:.3g}, and {:.3g} by {})",
            r.gradient_norm, r.fd_norm, how);
      return fmt::format(
          "UNRESOLVED  relative error {:.3g} (noise floor {:.2g}, above 0.01: {}; too coarse to resolve this "
          "gradient here)",
          r.relative_error, r.noise_floor, how);
  }
  throw std::logic_error("unknown gradient verdict");
}

}  // namespace

std::string CheckOutcome::text(std::uint64_t seed) const {
  std::string out, sizes;
  for (const auto& [name, v] : dims) sizes += (sizes.empty() ? "" : ", ") + name + "=" + std::to_string(v);
  const std::string noun = this->what == Derivative::Gradient   ? "gradient"
                           : this->what == Derivative::Hessian  ? "hessian"
                           : this->what == Derivative::Jacobian ? "jacobian"
                                                                : "hvp";
  bool given = false, unresolved = false;
  for (const CheckedGradient& r : results) {
    std::string g = r.gradient ? r.gradient.text() : "?";
    std::string asymmetry = r.asymmetry >= 0 ? fmt::format("; asymmetry {:.2g}", r.asymmetry) : "";
    out += fmt::format("{}{}: {}{} ({} {})\n", r.variable, r.variable2.empty() ? "" : "," + r.variable2,
                       verdict_text(r, this->what), asymmetry, r.given ? "checked the given " + noun : noun, g);
    given = given || r.given;
    unresolved = unresolved || r.verdict == GradientVerdict::Unresolved;
  }
  const std::string what = given ? "the given " + noun : noun;
  out += fmt::format("{} with seed {}{}{}\n",
                     ok           ? what + " agrees with central finite differences"
                     : unresolved ? what + " could not be verified by central finite differences"
                                  : what + " DISAGREES with central finite differences",
                     seed, sizes.empty() ? "" : ", ", sizes);
  return out;
}

Expression Explanation::gradient() const { return Expression(d_->gradient); }

std::vector<std::string> Explanation::steps() const {
  std::vector<std::string> out;
  for (const auto& step : d_->steps) out.push_back(step_text(*d_, step));
  return out;
}

std::string Explanation::declarations() const { return matcalc::declarations(*d_); }

std::string Explanation::format(DocFormat f) const {
  switch (f) {
    case DocFormat::Text: return format_text(*d_);
    case DocFormat::Latex: return format_latex(*d_);
    case DocFormat::Markdown: return format_markdown(*d_);
    case DocFormat::Json: return format_json(*d_).dump(2) + "\n";
  }
  throw std::logic_error("unknown derivation format");
}

// --------------------------------------------------------------- Session

struct Session::Impl {
  Context cx;
  Simplifier simplifier;  // memoizes simplified forms
  // Gradients by function and variables: (f, x1, x2, ...) -> (g1, g2, ...).
  std::map<std::vector<Expr>, std::vector<Expr>> gradients;
  // Second-order results by (kind, f, x, y or the direction).
  std::map<std::tuple<int, Expr, Expr, Expr>, Expr> second_order;

  template <class Derive>
  Expr remembered(int kind, Expr f, Expr x, Expr other, Derive derive) {
    auto key = std::make_tuple(kind, f, x, other);
    auto it = second_order.find(key);
    if (it == second_order.end()) it = second_order.emplace(key, derive()).first;
    return it->second;
  }
};

Session::Session() : impl_(std::make_unique<Impl>()) {}
Session::~Session() = default;

Function Session::load(const std::string& source, const std::string& declarations, const LoadOptions& options) {
  Program prog = located(ErrorSource::Expression, [&] { return parse_program(source); });
  if (!declarations.empty()) {
    Declarations extra = located(ErrorSource::Declarations, [&] { return parse_declarations(declarations); });
    prog.decls.insert(prog.decls.end(), extra.begin(), extra.end());
  }
  TypecheckOptions opt;
  opt.want_scalar = options.scalar;
  opt.extra_names = options.wrt;
  opt.source = source;
  opt.kinds = options.kinds;
  if (!options.scalar_reason.empty()) opt.scalar_reason = options.scalar_reason;
  TypedProgram p = located(ErrorSource::Expression, [&] { return typecheck(impl_->cx, *prog.expr, prog.decls, opt); });

  Function f;
  f.source = source;
  f.declarations = declarations;
  f.expression = Expression(p.expr);
  f.dimensions = p.dims;
  for (const InferenceWarning& w : p.warnings) {
    if (options.strict)
      throw Error(ErrorKind::Inference, w.message + " (an error under --strict)", w.column, w.length)
          .in(ErrorSource::Expression);
    f.warnings.push_back({w.message, w.column, w.length});
  }
  std::unordered_set<Expr> used;  // the symbols the expression mentions, in one walk
  for (Expr n : topo_order(p.expr))
    if (n->op == Op::Symbol) used.insert(n);
  auto add = [&](const std::string& name) {
    Expr sym = p.symbols.at(name);
    f.symbols.push_back({name, to_declaration(sym), Expression(sym), used.count(sym) > 0});
  };
  for (const auto& name : p.order) add(name);
  for (const auto& [name, sym] : p.symbols)
    if (std::find(p.order.begin(), p.order.end(), name) == p.order.end()) add(name);
  return f;
}

Expression Session::simplify(Expression e) { return Expression(impl_->simplifier(e.node())); }

Expression Session::gradient(const Function& f, const std::string& wrt) { return gradients(f, {wrt})[0]; }

std::vector<Expression> Session::gradients(const Function& f, const std::vector<std::string>& wrt) {
  Expr value = simplify(f.expression).node();
  std::vector<Expr> xs = wrt_symbols(f, wrt);
  std::vector<Expr> key{value};
  key.insert(key.end(), xs.begin(), xs.end());
  auto it = impl_->gradients.find(key);
  if (it == impl_->gradients.end()) it = impl_->gradients.emplace(key, matcalc::gradients(value, xs)).first;
  const std::vector<Expr>& gs = it->second;
  std::vector<Expression> out;
  out.reserve(gs.size());
  for (Expr g : gs) out.emplace_back(g);
  return out;
}

Expression Session::jacobian(const Function& f, const std::string& wrt) {
  Expr value = simplify(f.expression).node();
  Expr x = wrt_symbols(f, {wrt})[0];
  return Expression(impl_->remembered(0, value, x, nullptr, [&] { return matcalc::jacobian(value, x); }));
}

Expression Session::hessian(const Function& f, const std::string& wrt, const std::string& wrt2) {
  Expr value = simplify(f.expression).node();
  if (!value->is_scalar())
    throw Error(ErrorKind::Shape, "a Hessian needs a scalar function; this one is " + value->shape.str() +
                                      " (its jacobian is the first derivative)");
  Expr x = f.symbol(wrt).node();
  Expr y = wrt2.empty() ? x : f.symbol(wrt2).node();
  return Expression(impl_->remembered(1, value, x, y, [&] { return matcalc::hessian(value, x, y); }));
}

Expression Session::direction_symbol(const Function& f, const std::string& wrt, const std::string& direction) {
  Expr x = f.symbol(wrt).node();
  const bool identifier = !direction.empty() && (std::isalpha(static_cast<unsigned char>(direction[0])) != 0) &&
                          std::all_of(direction.begin(), direction.end(), [](char ch) {
                            return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
                          });
  if (!identifier)
    throw Error(ErrorKind::Name, "the direction '" + direction + "' is not a name (letters, digits and '_')");
  for (const SymbolInfo& s : f.symbols)
    if (s.name == direction)
      throw Error(ErrorKind::Name, "the direction '" + direction +
                                       "' is already a symbol of the expression; name another with --direction");
  if (std::find(f.dimensions.begin(), f.dimensions.end(), direction) != f.dimensions.end())
    throw Error(ErrorKind::Name,
                "the direction '" + direction + "' is a dimension of the expression; name another with --direction");
  return Expression(symbol(impl_->cx, direction, x->shape, x->symmetric));
}

Expression Session::hvp(const Function& f, const std::string& wrt, const std::string& direction) {
  Expr value = simplify(f.expression).node();
  if (!value->is_scalar())
    throw Error(ErrorKind::Shape,
                "a Hessian-vector product needs a scalar function; this one is " + value->shape.str());
  Expr x = f.symbol(wrt).node();
  Expr v = direction_symbol(f, wrt, direction).node();
  return Expression(impl_->remembered(2, value, x, v, [&] { return matcalc::hvp(value, x, v); }));
}

std::string Session::code(const Function& f, const std::vector<std::string>& wrt, CodeTarget target) {
  std::vector<Expression> gs = gradients(f, wrt);
  ModuleSpec spec;
  spec.value = simplify(f.expression).node();
  spec.symbols = symbol_map(f);
  spec.source = f.source;
  for (std::size_t i = 0; i < wrt.size(); ++i) spec.gradients.push_back({wrt[i], gs[i].node()});
  switch (target) {
    case CodeTarget::NumPy: return to_python_module(spec, PyTarget::NumPy);
    case CodeTarget::Torch: return to_python_module(spec, PyTarget::Torch);
    case CodeTarget::Eigen: return to_eigen_source(spec);
  }
  throw std::logic_error("unknown code target");
}

std::string Session::code(const Function& f, const std::vector<std::string>& wrt, CodeTarget target, Derivative what,
                          const std::string& direction) {
  if (what == Derivative::Gradient) return code(f, wrt, target);
  const char* command = what == Derivative::Jacobian ? "jacobian" : what == Derivative::Hessian ? "hessian" : "hvp";
  const std::size_t most = what == Derivative::Hessian ? 2 : 1;
  if (wrt.empty() || wrt.size() > most)
    throw Error(ErrorKind::Usage,
                std::string("a ") + command + " module " +
                    (most == 2 ? "derives w.r.t. X, or X and Y for a cross block" : "derives w.r.t. one variable"));
  ModuleSpec spec;
  spec.value = simplify(f.expression).node();
  spec.symbols = symbol_map(f);
  spec.source = f.source;
  spec.second_wrt = wrt;
  // The gradients a Hessian or hvp module returns too: one per variable
  // named (--wrt X --wrt X is the diagonal block, with one gradient).
  auto add_gradients = [&](std::vector<std::string> names) {
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<Expression> gs = gradients(f, names);
    for (std::size_t i = 0; i < names.size(); ++i) spec.gradients.push_back({names[i], gs[i].node()});
  };
  switch (what) {
    case Derivative::Gradient: break;  // returned above
    case Derivative::Jacobian: spec.jacobian = jacobian(f, wrt[0]).node(); break;
    case Derivative::Hessian:
      spec.hessian = hessian(f, wrt[0], wrt.size() > 1 ? wrt[1] : "").node();
      add_gradients(wrt);
      break;
    case Derivative::Hvp:
      spec.hvp = hvp(f, wrt[0], direction).node();
      spec.direction = direction;
      spec.symbols[direction] = direction_symbol(f, wrt[0], direction).node();
      add_gradients(wrt);
      break;
  }
  switch (target) {
    case CodeTarget::NumPy: return to_python_module(spec, PyTarget::NumPy);
    case CodeTarget::Torch: return to_python_module(spec, PyTarget::Torch);
    case CodeTarget::Eigen: return to_eigen_source(spec);
  }
  throw std::logic_error("unknown code target");
}

Explanation Session::explain(const Function& f, const std::string& wrt) {
  return Explanation(std::make_shared<const Derivation>(matcalc::explain(f.expression.node(), f.symbol(wrt).node())));
}

Explanation Session::explain_hessian(const Function& f, const std::string& wrt) {
  return Explanation(
      std::make_shared<const Derivation>(matcalc::explain_hessian(f.expression.node(), f.symbol(wrt).node())));
}

std::vector<Eigen::MatrixXd> Session::evaluate(const std::vector<Expression>& roots, Values values) {
  return matcalc::evaluate(nodes(roots), Bindings{std::move(values.symbols), std::move(values.dims)});
}

namespace {

// Where in the user's expression an evaluation failure at `failed` (a node
// of a gradient) comes from (nodes are interned, so equal structure is the
// same node): `failed` itself when the user wrote it; else the smallest of
// its compound arguments that the user wrote (the derivative of sqrt(x)
// needs sqrt(x)^-1); else the smallest subexpression that takes one of its
// arguments (up to a transpose) as its own, preferring an operation with a
// domain (logdet(A), whose derivative needs inv(A')). Null when none does.
Expr origin_of(Expr failed, Expr expr) {
  const std::vector<Expr> order = topo_order(expr);
  const std::unordered_set<Expr> written(order.begin(), order.end());
  if (written.count(failed)) return failed;
  // "Smaller" by the size of the written tree (saturating), computed once in
  // post-order: printing every candidate would make an error path slow.
  std::unordered_map<Expr, std::uint64_t> size;
  constexpr std::uint64_t kCap = std::uint64_t{1} << 40;
  for (Expr n : order) {
    std::uint64_t total = 1;
    for (Expr k : n->kids) total = std::min(kCap, total + size[k]);
    size[n] = total;
  }
  auto smaller = [&](Expr a, Expr b) { return !b || size[a] < size[b]; };
  Expr best = nullptr;
  for (Expr k : failed->kids)
    if (!k->kids.empty() && written.count(k) && smaller(k, best)) best = k;
  if (best) return best;
  auto untransposed = [](Expr k) { return k->op == Op::Transpose ? k->kid(0) : k; };
  bool best_has_domain = false;
  for (Expr n : order) {
    bool takes = std::any_of(n->kids.begin(), n->kids.end(), [&](Expr k) {
      return !k->constant && std::any_of(failed->kids.begin(), failed->kids.end(),
                                         [&](Expr a) { return untransposed(a) == untransposed(k); });
    });
    if (!takes) continue;
    const bool has_domain = op_domain(n->op) != OpDomain::Any;
    if (!best || (has_domain && !best_has_domain) || (has_domain == best_has_domain && smaller(n, best))) {
      best = n;
      best_has_domain = has_domain;
    }
  }
  return best;
}

}  // namespace

namespace {

// The values of roots[0] (f, simplified) and of the derivatives after it in
// one pass, each derivative named by `what[i]` ("the gradient w.r.t. W") in
// the message of an error met while evaluating it.
std::vector<Eigen::MatrixXd> evaluate_named(const Function& f, const std::vector<Expression>& roots,
                                            const std::vector<std::string>& what, Values values) {
  Evaluator ev(Bindings{std::move(values.symbols), std::move(values.dims)});
  ev.plan(nodes(roots));  // the value and the derivatives share work
  std::vector<Eigen::MatrixXd> out;
  out.reserve(roots.size());
  for (std::size_t i = 0; i < roots.size(); ++i) {
    try {
      out.push_back(ev.eval(roots[i].node()));
    } catch (const Error& e) {
      Expr failed = ev.failed_at();
      if (!failed) throw;
      if (i == 0) {
        // In the value: name the failing part when the expression has others
        // (logdet(B) + logdet(A)), and when it prints short.
        if (failed == roots[0].node() || failed->kids.empty()) throw;
        std::string part;
        try {
          part = to_text(failed);
        } catch (const Error&) {
          throw e;
        }
        constexpr std::size_t kLongest = 80;
        if (part.size() > kLongest) throw;
        throw Error(e.kind(), "in " + part + ": " + e.what());
      }
      // An error in a derivative: name the part of the user's expression
      // whose derivative it comes from, since the failing operation (an inv,
      // a division) may be one the user never wrote.
      // Only the chosen parts are printed; should printing fail (a limit),
      // the original error stands alone.
      std::string where = "in " + what[i - 1];
      try {
        if (Expr from = origin_of(failed, f.expression.node())) {
          where += " (from " + to_text(from);
          if (from != failed) where += ", whose derivative needs " + to_text(failed);
          where += ")";
        } else {
          where += " (at " + to_text(failed) + ")";
        }
      } catch (const Error&) {
        throw e;
      }
      throw Error(e.kind(), where + ": " + e.what());
    }
  }
  return out;
}

}  // namespace

std::vector<Eigen::MatrixXd> Session::evaluate(const Function& f, const std::vector<std::string>& wrt, Values values) {
  std::vector<Expression> roots{simplify(f.expression)};
  std::vector<std::string> what;
  if (!wrt.empty()) {
    std::vector<Expression> gs = gradients(f, wrt);
    roots.insert(roots.end(), gs.begin(), gs.end());
    for (const std::string& x : wrt) what.push_back("the gradient w.r.t. " + x);
  }
  return evaluate_named(f, roots, what, std::move(values));
}

std::vector<Eigen::MatrixXd> Session::evaluate_hessians(const Function& f, const std::vector<std::string>& wrt,
                                                        Values values) {
  std::vector<Expression> roots{simplify(f.expression)};
  std::vector<std::string> what;
  roots.reserve(1 + 2 * wrt.size());
  what.reserve(2 * wrt.size());
  std::vector<Expression> gs = gradients(f, wrt);
  roots.insert(roots.end(), gs.begin(), gs.end());
  for (const std::string& x : wrt) what.push_back("the gradient w.r.t. " + x);
  for (const std::string& x : wrt) {
    roots.push_back(hessian(f, x));
    what.push_back("the Hessian w.r.t. " + x);
  }
  return evaluate_named(f, roots, what, std::move(values));
}

namespace {

// Errors in the order of the pipeline: names and derivatives before --dims.
void check_dims_named(const Function& f, const std::map<std::string, std::int64_t>& dims) {
  for (const auto& [name, v] : dims)
    if (std::find(f.dimensions.begin(), f.dimensions.end(), name) == f.dimensions.end())
      throw Error(ErrorKind::Usage, "--dims names '" + name + "', which is not a dimension of the expression");
}

CheckedGradient checked(const CheckResult& res) {
  CheckedGradient c;
  c.variable = res.variable;
  c.relative_error = res.relative_error;
  c.abs_error = res.abs_error;
  c.noise_floor = res.noise_floor;
  c.gradient_norm = res.gradient_norm;
  c.fd_norm = res.fd_norm;
  c.step_min = res.step_min;
  c.step_max = res.step_max;
  c.two_steps = res.two_steps;
  c.f_noise = res.f_noise;
  c.ok = res.ok;
  c.unit_directions = res.unit_directions;
  c.random_directions = res.random_directions;
  c.asymmetry = res.asymmetry;
  switch (res.verdict) {
    case CheckVerdict::Agrees: c.verdict = GradientVerdict::Agrees; break;
    case CheckVerdict::WithinNoise: c.verdict = GradientVerdict::WithinNoise; break;
    case CheckVerdict::RoundingLevel: c.verdict = GradientVerdict::RoundingLevel; break;
    case CheckVerdict::Mismatch: c.verdict = GradientVerdict::Mismatch; break;
    case CheckVerdict::Unresolved: c.verdict = GradientVerdict::Unresolved; break;
  }
  return c;
}

// check --hessian, --jacobian, --hvp: the checks of check_derivatives, each
// with the expression it checks.
CheckOutcome check_second_order(Session& s, const Function& f, const std::vector<std::string>& wrt,
                                const CheckSettings& options, const matcalc::CheckOptions& opt) {
  const char* flag = options.what == Derivative::Hessian    ? "--hessian"
                     : options.what == Derivative::Jacobian ? "--jacobian"
                                                            : "--hvp";
  if (!options.gradients.empty())
    throw Error(ErrorKind::Usage, std::string("--gradient gives a gradient to check; it does not go with ") + flag);
  if (options.what != Derivative::Hessian && !options.hessians.empty())
    throw Error(ErrorKind::Usage, std::string("a Hessian to check is given, but the check is ") + flag);
  std::vector<Expr> xs = wrt_symbols(f, wrt);
  Expr value = s.simplify(f.expression).node();
  if (options.what != Derivative::Jacobian && !value->is_scalar())
    throw Error(ErrorKind::Shape, std::string("check ") + flag + " needs a scalar function; this one is " +
                                      value->shape.str() + " (check --jacobian takes any shape)");
  for (const auto& [name, h] : options.hessians) {
    auto at = std::find(wrt.begin(), wrt.end(), name);
    if (at == wrt.end())
      throw Error(ErrorKind::Usage, "a Hessian is given for '" + name + "', which is not a --wrt variable");
    Expr x = xs[static_cast<std::size_t>(at - wrt.begin())];
    const Dim n = x->shape.rows * x->shape.cols;
    if (h.node()->shape != Shape{n, n})
      throw Error(ErrorKind::Shape, fmt::format("the Hessian given for {0} must be {1} (numel({0}) x numel({0})), "
                                                "but it is {2}",
                                                name, Shape{n, n}.str(), h.node()->shape.str()));
  }
  std::vector<DerivativeCheck> checks;
  std::vector<Expression> exprs;  // what each check compares, for the report
  std::vector<std::string> columns;
  std::vector<bool> given;
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    if (options.what == Derivative::Jacobian) {
      Expression j = s.jacobian(f, wrt[i]);
      checks.push_back({.label = wrt[i], .of = value, .x = xs[i], .matrix = j.node()});
      exprs.push_back(j);
      columns.push_back("");
      given.push_back(false);
      continue;
    }
    Expr g = s.gradient(f, wrt[i]).node();
    if (options.what == Derivative::Hvp) {
      Expression v = s.direction_symbol(f, wrt[i], options.direction);
      Expression hv = s.hvp(f, wrt[i], options.direction);
      checks.push_back({.label = wrt[i], .of = g, .x = xs[i], .along = hv.node(), .direction = v.node()});
      exprs.push_back(hv);
      columns.push_back("");
      given.push_back(false);
      continue;
    }
    // The Hessian: the block of wrt[i] itself, then its cross blocks with
    // the variables after it (the others are their transposes).
    for (std::size_t k = i; k < wrt.size(); ++k) {
      auto it = k == i ? options.hessians.find(wrt[i]) : options.hessians.end();
      Expression h = it != options.hessians.end() ? it->second : s.hessian(f, wrt[i], k == i ? "" : wrt[k]);
      checks.push_back({.label = k == i ? wrt[i] : wrt[i] + "," + wrt[k],
                        .of = g,
                        .x = xs[k],
                        .matrix = h.node(),
                        .hessian_block = k == i});
      exprs.push_back(h);
      columns.push_back(k == i ? "" : wrt[k]);
      given.push_back(it != options.hessians.end());
    }
  }
  check_dims_named(f, options.dims);
  matcalc::CheckReport r = check_derivatives(value, checks, symbol_map(f), opt);
  CheckOutcome out;
  out.ok = r.ok;
  out.dims = r.inputs.dims;
  out.what = options.what;
  for (std::size_t i = 0; i < r.results.size(); ++i) {
    CheckedGradient c = checked(r.results[i]);
    c.gradient = exprs[i];
    c.given = given[i];
    c.variable2 = columns[i];
    if (!columns[i].empty()) c.variable = c.variable.substr(0, c.variable.find(','));
    out.results.push_back(std::move(c));
  }
  return out;
}

}  // namespace

CheckOutcome Session::check(const Function& f, const std::vector<std::string>& wrt, const CheckSettings& options) {
  if (!(options.tolerance > 0) || !std::isfinite(options.tolerance))
    throw Error(ErrorKind::Usage,
                fmt::format("the tolerance must be a positive finite number, got {}", options.tolerance));
  matcalc::CheckOptions opt;
  opt.dims = options.dims;
  opt.seed = options.seed;
  opt.tolerance = options.tolerance;
  if (options.what != Derivative::Gradient) return check_second_order(*this, f, wrt, options, opt);
  if (!options.hessians.empty())
    throw Error(ErrorKind::Usage, "a Hessian to check is given, but the check is of gradients");
  Expr value = simplify(f.expression).node();
  std::vector<Expr> xs = wrt_symbols(f, wrt);
  for (const auto& [name, g] : options.gradients)
    if (std::find(wrt.begin(), wrt.end(), name) == wrt.end())
      throw Error(ErrorKind::Usage, "a gradient is given for '" + name + "', which is not a --wrt variable");
  // matcalc's gradients only for the variables without a given one.
  std::vector<std::string> own;
  for (const std::string& x : wrt)
    if (!options.gradients.count(x)) own.push_back(x);
  std::vector<Expression> own_gs = own.empty() ? std::vector<Expression>{} : gradients(f, own);
  std::vector<Expression> gs;
  for (std::size_t i = 0, j = 0; i < wrt.size(); ++i) {
    auto it = options.gradients.find(wrt[i]);
    gs.push_back(it != options.gradients.end() ? it->second : own_gs[j++]);
  }
  check_dims_named(f, options.dims);
  matcalc::CheckReport r = check_gradients(value, xs, nodes(gs), symbol_map(f), opt);
  CheckOutcome out;
  out.ok = r.ok;
  out.dims = r.inputs.dims;
  for (std::size_t i = 0; i < r.results.size(); ++i) {
    CheckedGradient c = checked(r.results[i]);
    c.gradient = gs[i];
    c.given = options.gradients.count(wrt[i]) > 0;
    out.results.push_back(std::move(c));
  }
  return out;
}

Expression Session::gradient_formula(const Function& f, const std::string& wrt, const std::string& formula) {
  Expr x = f.symbol(wrt).node();
  // Read under every symbol's type, declared or inferred: the same symbols,
  // the same dimension names.
  Program prog = located(ErrorSource::Expression, [&] { return parse_program(formula); });
  Declarations decls = located(ErrorSource::Declarations, [&] { return parse_declarations(f.declaration_text()); });
  prog.decls.insert(prog.decls.begin(), decls.begin(), decls.end());
  TypecheckOptions opt;
  opt.source = formula;
  TypedProgram p = located(ErrorSource::Expression, [&] { return typecheck(impl_->cx, *prog.expr, prog.decls, opt); });
  const std::size_t first = formula.find_first_not_of(" \t\r\n");
  const std::size_t last = formula.find_last_not_of(" \t\r\n");
  const int column = first == std::string::npos ? 1 : static_cast<int>(first) + 1;
  const int length = first == std::string::npos ? 1 : static_cast<int>(last - first + 1);
  for (Expr n : topo_order(p.expr)) {
    if (n->op != Op::Symbol) continue;
    bool known = false;
    for (const SymbolInfo& s : f.symbols) known = known || s.name == n->name;
    if (!known) {
      // The first place the name stands as a whole word, for the caret.
      std::size_t at = 0;
      auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
      for (std::size_t i = formula.find(n->name); i != std::string::npos; i = formula.find(n->name, i + 1))
        if ((i == 0 || !word(formula[i - 1])) &&
            (i + n->name.size() >= formula.size() || !word(formula[i + n->name.size()]))) {
          at = i + 1;
          break;
        }
      throw Error(ErrorKind::Name, "the gradient uses '" + n->name + "', which is not a symbol of the expression",
                  static_cast<int>(at), static_cast<int>(n->name.size()))
          .in(ErrorSource::Expression);
    }
  }
  if (p.expr->shape != x->shape)
    throw Error(ErrorKind::Shape,
                "the gradient w.r.t. " + wrt + " must have the shape of " + wrt + ", " + x->shape.str() +
                    ", but this formula is " + p.expr->shape.str(),
                column, length)
        .in(ErrorSource::Expression);
  return Expression(p.expr);
}

std::string rules(const std::string& name, const std::string& search, DocFormat format) {
  if (!name.empty() && !search.empty()) throw Error(ErrorKind::Usage, "give a rule NAME or --search WORD, not both");
  std::vector<RuleEntry> list = !name.empty()     ? std::vector<RuleEntry>{find_rule(name)}
                                : !search.empty() ? search_rules(search)
                                                  : rule_book();
  if (list.empty()) throw Error(ErrorKind::Name, "no rule mentions '" + search + "'");
  switch (format) {
    case DocFormat::Text: return rules_text(list);
    case DocFormat::Latex: return rules_latex(list);
    case DocFormat::Markdown: return rules_markdown(list);
    case DocFormat::Json: return rules_json(list).dump(2) + "\n";
  }
  throw std::logic_error("unknown rule book format");
}

}  // namespace matcalc
