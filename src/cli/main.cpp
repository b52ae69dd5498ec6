// The matcalc command line (CLI.md): grad, eval, check, explain, rules. A thin layer: it
// parses arguments with CLI11, calls the library API (include/matcalc), and
// prints. Every matcalc::Error becomes
// one message on stderr and exit status 2; `check` exits 1 when the
// symbolic and numeric gradients disagree.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "matcalc/matcalc.hpp"

namespace {

using namespace matcalc;

constexpr int kExitBadInput = 2;
constexpr int kExitDisagree = 1;

struct Common {
  std::string expr;
  std::string expr_file;  // --expr-file: EXPR read from a file ('-': stdin)
  std::vector<std::string> wrt;
  std::string decl;                               // every --decl, joined with "; "
  std::vector<std::string> decls;                 // --decl as given (the option may be repeated)
  std::map<std::string, std::string> kinds = {};  // eval: the kinds the values file shows
  bool show_types = false;                        // --show-types: `types: ...` on stderr
  bool strict = false;                            // --strict: inference warnings are errors
};

Function load(Session& s, const Common& c, bool want_scalar, const std::string& scalar_reason = "") {
  return s.load(
      c.expr, c.decl,
      {.scalar = want_scalar, .wrt = c.wrt, .strict = c.strict, .kinds = c.kinds, .scalar_reason = scalar_reason});
}

// On stderr, just before a command prints its result: `types: ...` (with
// --show-types) and every inference warning, a line each. A command that
// fails prints its one error message alone.
void announce(const Common& c, const Function& f) {
  constexpr std::size_t kMaxWarning = 300;  // a warning quotes the expression: long ones are cut
  if (c.show_types) std::cerr << "types: " << f.declaration_text() << "\n";
  for (const Warning& w : f.warnings)
    std::cerr << "warning: "
              << (w.message.size() > kMaxWarning ? w.message.substr(0, kMaxWarning - 3) + "..." : w.message) << "\n";
}

// ---------------------------------------------------------------- grad

int run_grad(const Common& c, const std::string& format) {
  Session s;
  Function f = load(s, c, /*want_scalar=*/true);
  if (format == "numpy" || format == "torch" || format == "eigen") {
    std::string module = s.code(f, c.wrt,
                                format == "numpy"   ? CodeTarget::NumPy
                                : format == "torch" ? CodeTarget::Torch
                                                    : CodeTarget::Eigen);
    announce(c, f);
    std::cout << module;
    return 0;
  }
  Expression value = s.simplify(f.expression);
  std::vector<Expression> gs = s.gradients(f, c.wrt);
  const bool several = gs.size() > 1;
  // The whole result is rendered before anything is printed: printing may
  // fail (a limit), and then only the error is shown.
  std::string out;
  if (format == "text" || format == "latex") {
    for (std::size_t i = 0; i < gs.size(); ++i) {
      if (several)
        out +=
            format == "text" ? c.wrt[i] + ": " : "\\frac{\\partial f}{\\partial " + f.symbol(c.wrt[i]).latex() + "} = ";
      out += (format == "text" ? gs[i].text() : gs[i].latex()) + "\n";
    }
  } else if (format == "json") {
    nlohmann::json j;
    j["expression"] = value.text();
    j["wrt"] = c.wrt;
    j["types"] = f.declaration_text();
    for (std::size_t i = 0; i < gs.size(); ++i)
      j["gradient"][c.wrt[i]] = {
          {"text", gs[i].text()}, {"latex", gs[i].latex()}, {"tree", nlohmann::json::parse(gs[i].json())}};
    out = j.dump() + "\n";
  } else {
    throw Error(ErrorKind::Usage, "unknown --format '" + format + "' (text, latex, numpy, torch, eigen, json)");
  }
  announce(c, f);
  std::cout << out;
  return 0;
}

// ---------------------------------------------------------------- jacobian, hessian, hvp

std::optional<CodeTarget> code_target(const std::string& format) {
  if (format == "numpy") return CodeTarget::NumPy;
  if (format == "torch") return CodeTarget::Torch;
  if (format == "eigen") return CodeTarget::Eigen;
  return std::nullopt;
}

// CLI.md, "Higher order": one result, printed in `format`.
int run_second_order(const Common& c, Derivative what, const std::string& format, const std::string& direction) {
  const char* command = what == Derivative::Jacobian ? "jacobian" : what == Derivative::Hessian ? "hessian" : "hvp";
  const std::size_t most = what == Derivative::Hessian ? 2 : 1;
  if (c.wrt.empty() || c.wrt.size() > most)
    throw Error(ErrorKind::Usage,
                std::string(command) + (most == 2 ? " takes --wrt X, or --wrt X --wrt Y for the cross block"
                                                  : " derives w.r.t. one variable: give --wrt once"));
  Session s;
  Function f = load(s, c, /*want_scalar=*/what != Derivative::Jacobian,
                    std::string(what == Derivative::Hvp ? "a Hessian-vector product" : "a Hessian") +
                        " needs a scalar function (jacobian takes any shape)");
  if (std::optional<CodeTarget> target = code_target(format)) {
    std::string module = s.code(f, c.wrt, *target, what, direction);
    announce(c, f);
    std::cout << module;
    return 0;
  }
  Expression r = what == Derivative::Jacobian  ? s.jacobian(f, c.wrt[0])
                 : what == Derivative::Hessian ? s.hessian(f, c.wrt[0], c.wrt.size() > 1 ? c.wrt[1] : "")
                                               : s.hvp(f, c.wrt[0], direction);
  std::string out;
  if (format == "text") {
    out = r.text() + "\n";
  } else if (format == "latex") {
    out = r.latex() + "\n";
  } else if (format == "json") {
    nlohmann::json j;
    j["expression"] = s.simplify(f.expression).text();
    j["wrt"] = c.wrt;
    j["types"] = f.declaration_text();
    if (what == Derivative::Hvp) j["direction"] = direction;
    j[command] = {
        {"text", r.text()}, {"latex", r.latex()}, {"shape", r.shape()}, {"tree", nlohmann::json::parse(r.json())}};
    out = j.dump() + "\n";
  } else {
    throw Error(ErrorKind::Usage, "unknown --format '" + format + "' (text, latex, numpy, torch, eigen, json)");
  }
  announce(c, f);
  std::cout << out;
  return 0;
}

// ---------------------------------------------------------------- eval

bool identifier_shaped(const std::string& a) {
  if (a.empty() || !(std::isalpha(static_cast<unsigned char>(a[0])) || a[0] == '_')) return false;
  for (char ch : a)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  return true;
}

std::string trimmed(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// --dims n=5,k=3 (spaces allowed around names, '=' and ','; the option may be
// repeated). A name given twice is an error, as is a size outside [1, max].
std::map<std::string, std::int64_t> parse_dims(const std::vector<std::string>& options, std::int64_t max,
                                               const std::string& why_max) {
  std::map<std::string, std::int64_t> out;
  for (const std::string& option : options) {
    std::stringstream in(option);
    std::string item;
    while (std::getline(in, item, ',')) {
      auto eq = item.find('=');
      std::string name = trimmed(item.substr(0, eq == std::string::npos ? item.size() : eq));
      if (eq == std::string::npos || !identifier_shaped(name))
        throw Error(ErrorKind::Usage, "--dims expects name=size pairs like n=5,k=3, got '" + trimmed(item) + "'");
      std::string val = trimmed(item.substr(eq + 1));
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
      if (val.empty() || ec != std::errc() || end != val.data() + val.size())
        throw Error(ErrorKind::Usage, fmt::format("--dims: '{}' is not an integer size for {}", val, name));
      if (v < 1 || v > max)
        throw Error(ErrorKind::Limit, fmt::format("--dims: size of {} must be between 1 and {}{}", name, max, why_max));
      if (!out.emplace(name, v).second) throw Error(ErrorKind::Usage, "--dims gives the size of " + name + " twice");
    }
  }
  return out;
}

// --seed: an integer in [0, 2^64 - 1], never wrapped around.
std::uint64_t parse_seed(const std::string& s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    throw Error(ErrorKind::Usage, "--seed must be an integer from 0 to 18446744073709551615, got '" + s + "'");
  return v;
}

// --tolerance: a positive finite number.
double parse_tolerance(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || !(v > 0) || errno == ERANGE)
    throw Error(ErrorKind::Usage, "--tolerance must be a positive finite number, got '" + s + "'");
  return v;
}

// The kind a result is printed as (CLI.md): a number, a flat list or a list
// of rows, by the kind of the expression, not the size it has at run time
// (a 1 x 1 matrix is a list of one row).
enum class Kind { Scalar, Vector, Matrix };

Kind kind_of_declaration(const std::string& declaration) {
  const std::size_t colon = declaration.rfind(": ");
  const std::string word = colon == std::string::npos ? declaration : declaration.substr(colon + 2);
  return word.rfind("scalar", 0) == 0 ? Kind::Scalar : word.rfind("vector", 0) == 0 ? Kind::Vector : Kind::Matrix;
}

Kind kind_of(const Function& f, Expression e) {
  for (const SymbolInfo& sym : f.symbols)
    if (sym.symbol == e) return kind_of_declaration(sym.declaration);
  const std::string shape = e.shape();  // "scalar", "vector(n)", "1 x n", "n x k"
  return shape == "scalar"                                              ? Kind::Scalar
         : shape.rfind("vector", 0) == 0 || shape.rfind("1 x ", 0) == 0 ? Kind::Vector
                                                                        : Kind::Matrix;
}

nlohmann::ordered_json value_of(const Eigen::MatrixXd& m, Kind kind) {
  if (kind == Kind::Scalar && m.size() == 1) return m(0, 0);
  if (kind == Kind::Vector && (m.rows() == 1 || m.cols() == 1)) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (Eigen::Index i = 0; i < m.size(); ++i) a.push_back(m.data()[i]);
    return a;
  }
  if (kind == Kind::Matrix) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
      nlohmann::ordered_json r = nlohmann::ordered_json::array();
      for (Eigen::Index k = 0; k < m.cols(); ++k) r.push_back(m(i, k));
      rows.push_back(std::move(r));
    }
    return rows;
  }
  return nlohmann::ordered_json::parse(value_json(m));  // a size the kind does not have: as it is
}

int run_eval(Common c, const std::string& values_path, bool json, const std::vector<std::string>& dims, bool hessian) {
  if (hessian && c.wrt.empty())
    throw Error(ErrorKind::Usage, "--hessian needs the variables: give --wrt X (the Hessian of each is printed)");
  // The kinds the values show are taken as given ({"s": 2} makes s a
  // scalar); a file that cannot be read gives none, and reading it below
  // reports why.
  c.kinds = value_kinds_file(values_path);
  Session s;
  Function f = load(s, c, /*want_scalar=*/!c.wrt.empty());
  std::map<std::string, std::int64_t> sizes = parse_dims(dims, std::int64_t{1} << 27, "");
  for (const auto& [name, v] : sizes)
    if (std::find(f.dimensions.begin(), f.dimensions.end(), name) == f.dimensions.end())
      throw Error(ErrorKind::Usage, "--dims names '" + name + "', which is not a dimension of the expression");
  Values values = read_values_file(f, values_path, sizes);
  // The value, the gradients and the Hessians in one pass: they share work.
  std::vector<Eigen::MatrixXd> vals =
      hessian ? s.evaluate_hessians(f, c.wrt, std::move(values)) : s.evaluate(f, c.wrt, std::move(values));
  announce(c, f);

  // Keys in the order of CLI.md: value, then gradient by --wrt order, then
  // hessian (a list of rows, numel(X) x numel(X), even for a scalar X).
  nlohmann::ordered_json out;
  out["value"] = value_of(vals[0], kind_of(f, s.simplify(f.expression)));
  for (std::size_t i = 0; i < c.wrt.size(); ++i)
    out["gradient"][c.wrt[i]] = value_of(vals[i + 1], kind_of(f, f.symbol(c.wrt[i])));
  if (hessian)
    for (std::size_t i = 0; i < c.wrt.size(); ++i)
      out["hessian"][c.wrt[i]] = value_of(vals[1 + c.wrt.size() + i], Kind::Matrix);
  if (json) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "value: " << out["value"].dump() << "\n";
    for (const std::string& x : c.wrt) std::cout << "gradient " << x << ": " << out["gradient"][x].dump() << "\n";
    if (hessian)
      for (const std::string& x : c.wrt) std::cout << "hessian " << x << ": " << out["hessian"][x].dump() << "\n";
  }
  return 0;
}

// ---------------------------------------------------------------- check

// What `check` compares (--hessian, --jacobian, --hvp; at most one).
struct CheckWhat {
  bool hessian = false, jacobian = false, hvp = false;
  std::string direction = "V";
  bool direction_given = false;
};

int run_check(const Common& c, const std::vector<std::string>& dims, const std::string& seed_text,
              const std::string& tolerance_text, const std::vector<std::string>& given, const CheckWhat& what) {
  const std::uint64_t seed = parse_seed(seed_text);
  const double tolerance = parse_tolerance(tolerance_text);
  if (int(what.hessian) + int(what.jacobian) + int(what.hvp) > 1)
    throw Error(ErrorKind::Usage, "give one of --hessian, --jacobian, --hvp");
  CheckSettings opt;
  opt.what = what.hessian    ? Derivative::Hessian
             : what.jacobian ? Derivative::Jacobian
             : what.hvp      ? Derivative::Hvp
                             : Derivative::Gradient;
  opt.direction = what.direction;
  if (what.direction_given && opt.what != Derivative::Hvp)
    throw Error(ErrorKind::Usage, "--direction names the direction of --hvp; give --hvp too");
  if (opt.what != Derivative::Gradient && !given.empty())
    throw Error(ErrorKind::Usage,
                "--gradient gives a gradient to check; it does not go with --hessian, --jacobian "
                "or --hvp");
  Session s;
  Function f = load(s, c, /*want_scalar=*/opt.what != Derivative::Jacobian);
  if (opt.what != Derivative::Gradient) {
    // Errors in the order of the pipeline: names and derivatives before --dims.
    for (const std::string& x : c.wrt) {
      if (opt.what == Derivative::Hessian)
        (void)s.hessian(f, x);
      else if (opt.what == Derivative::Jacobian)
        (void)s.jacobian(f, x);
      else
        (void)s.hvp(f, x, opt.direction);
    }
  } else if (given.empty()) {
    (void)s.gradients(f, c.wrt);  // errors in the order of the pipeline: names before --dims
  } else {
    // --gradient: one formula per --wrt, in the same order.
    if (given.size() != c.wrt.size())
      throw Error(ErrorKind::Usage, fmt::format("give one --gradient per --wrt, in the same order ({} --wrt, {} "
                                                "--gradient)",
                                                c.wrt.size(), given.size()));
    for (std::size_t i = 0; i < given.size(); ++i) {
      try {
        opt.gradients[c.wrt[i]] = s.gradient_formula(f, c.wrt[i], given[i]);
      } catch (const Error& e) {
        // Located in the formula, not in EXPR: the caret goes under it.
        std::cerr << "in --gradient: " << format_error(e, e.source() == ErrorSource::Expression ? given[i] : "");
        return kExitBadInput;
      }
    }
  }
  opt.dims = parse_dims(dims, 2000, " for a check");
  opt.seed = seed;
  opt.tolerance = tolerance;
  CheckOutcome r = s.check(f, c.wrt, opt);
  announce(c, f);
  std::cout << r.text(seed);
  return r.ok ? 0 : kExitDisagree;
}

// ---------------------------------------------------------------- explain, rules

DocFormat doc_format(const std::string& f) {
  return f == "text"       ? DocFormat::Text
         : f == "latex"    ? DocFormat::Latex
         : f == "markdown" ? DocFormat::Markdown
                           : DocFormat::Json;
}

int run_explain(const Common& c, const std::string& format, bool hessian) {
  if (c.wrt.size() != 1) throw Error(ErrorKind::Usage, "explain derives w.r.t. one variable: give --wrt once");
  Session s;
  Function f = load(s, c, /*want_scalar=*/true);
  std::string derivation =
      (hessian ? s.explain_hessian(f, c.wrt[0]) : s.explain(f, c.wrt[0])).format(doc_format(format));
  announce(c, f);
  std::cout << derivation;
  return 0;
}

int run_rules(const std::string& name, const std::string& search, const std::string& format) {
  std::cout << rules(name, search, doc_format(format));
  return 0;
}

// Options that take a value: the argument after one is that value, never
// EXPR nor an option.
const std::set<std::string>& value_options() {
  static const std::set<std::string> names = {"--wrt",    "--decl",     "--expr-file", "--format",
                                              "--values", "--dims",     "--seed",      "--tolerance",
                                              "--search", "--gradient", "--direction"};
  return names;
}

// An expression may begin with '-' ("-y'*log(p)"): after `--`, or wherever an
// argument starting with '-' cannot be an option, it is taken out of argv as
// EXPR before CLI11 sees it.
//
// `--wrt` takes one or more names: the argument after it, and every
// identifier-shaped argument after that ([A-Za-z_][A-Za-z0-9_]*); the first
// argument of another shape ends the list. So `grad "x'*y" --wrt x y` and
// `grad --wrt x y -- "x'*y"` differentiate w.r.t. x and y. Each name
// becomes its own `--wrt NAME` for CLI11. When no EXPR is given otherwise and
// the last list has two or more names, its last name is EXPR: `eval --wrt s s`
// evaluates s and its gradient w.r.t. s.
struct SplitArgs {
  std::vector<std::string> args;
  std::optional<std::string> expr;
  bool wrt_list = false;      // --wrt took more than one name from one list
  std::size_t last_list = 0;  // how many names the last --wrt list took
};

SplitArgs split_expression(int argc, char** argv) {
  auto option_shaped = [](const std::string& a) {
    std::size_t i = a.rfind("--", 0) == 0 ? 2 : 1;
    if (a.size() <= i || !std::isalpha(static_cast<unsigned char>(a[i]))) return false;
    for (; i < a.size() && a[i] != '='; ++i)
      if (!std::isalnum(static_cast<unsigned char>(a[i])) && a[i] != '-' && a[i] != '_') return false;
    return true;
  };
  SplitArgs out;
  bool wrt_open = false;  // the names after --wrt go on
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool after_value_option = i > 0 && value_options().count(argv[i - 1]);
    if (i > 1 && a == "--") {
      for (int j = i + 1; j < argc; ++j) {
        if (out.expr) throw Error(ErrorKind::Usage, "more than one expression after '--'");
        out.expr = argv[j];
      }
      break;
    }
    if (wrt_open && !after_value_option && identifier_shaped(a)) {
      out.args.push_back("--wrt");
      out.args.push_back(a);
      out.wrt_list = true;
      ++out.last_list;
      continue;
    }
    wrt_open = i > 1 && ((after_value_option && std::string(argv[i - 1]) == "--wrt") || a.rfind("--wrt=", 0) == 0);
    if (wrt_open) out.last_list = 1;
    if (i > 1 && !after_value_option && a.size() > 1 && a[0] == '-' && !option_shaped(a)) {
      if (out.expr) throw Error(ErrorKind::Usage, "more than one expression given");
      out.expr = a;
      continue;
    }
    out.args.push_back(a);
  }
  return out;
}

// Every option-shaped argument of the command must be one of its options:
// checked before CLI11 parses, which would first report a missing required
// option ("--wrt is required" for a mistyped --wrt).
void check_options_known(const CLI::App& app, const CLI::App& cmd, const std::vector<std::string>& args) {
  std::vector<std::string> known;
  for (const CLI::App* a : {&app, &cmd})
    for (const CLI::Option* o : a->get_options()) {
      for (const std::string& n : o->get_lnames()) known.push_back("--" + n);
      for (const std::string& n : o->get_snames()) known.push_back("-" + n);
    }
  for (std::size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool bare = value_options().count(a) && (i + 1 == args.size() || args[i + 1].rfind("--", 0) == 0);
    const bool empty = a.size() > 1 && a.back() == '=' && value_options().count(a.substr(0, a.size() - 1));
    if (bare || empty) throw Error(ErrorKind::Usage, "option " + a.substr(0, a.find('=')) + " needs a value");
    if (value_options().count(args[i - 1]) || a.size() < 2 || a[0] != '-') continue;
    std::string name = a.substr(0, a.find('='));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::vector<std::string> long_names;
    for (const std::string& k : known)
      if (k.size() >= 3) long_names.push_back(k);  // not -h
    // One edit away, else a prefix of four letters or more (--val: --values),
    // else two edits away.
    std::string best = closest_name(name, long_names, 1);
    if (best.empty() && name.size() >= 4)
      for (const std::string& k : long_names)
        if (k.rfind(name, 0) == 0) {
          best = k;
          break;
        }
    if (best.empty()) best = closest_name(name, long_names, 2);
    const bool short_form = name.rfind("--", 0) != 0;  // "-x" may be meant as an expression
    throw Error(ErrorKind::Usage, "unknown option " + name + " for 'matcalc " + cmd.get_name() + "'" +
                                      (!best.empty() ? " (did you mean " + best + "?)"
                                       : short_form  ? " (an EXPR that begins with '-' goes after '--': matcalc " +
                                                          cmd.get_name() + " --wrt x -- " + a + ")"
                                                    : ""));
  }
}

// --expr-file FILE: EXPR (with any declarations before it, separated by ';' or
// newlines) read from FILE, or from stdin for '-'; for expressions past the
// 128 KiB that Linux allows one argument. Read up to the parser's size limit.
void read_expr_file(Common& c) {
  if (!c.expr.empty()) throw Error(ErrorKind::Usage, "give EXPR or --expr-file, not both");
  const bool stdin_ = c.expr_file == "-";
  std::error_code ec;
  if (!stdin_ && std::filesystem::is_directory(c.expr_file, ec))
    throw Error(ErrorKind::Usage, "--expr-file '" + c.expr_file + "' is a directory");
  std::ifstream file;
  if (!stdin_) {
    file.open(c.expr_file, std::ios::binary);
    if (!file) throw Error(ErrorKind::Usage, "cannot read --expr-file '" + c.expr_file + "': " + std::strerror(errno));
  }
  std::istream& in = stdin_ ? std::cin : file;
  std::string text(max_source_bytes() + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_source_bytes())
    throw Error(ErrorKind::Limit,
                "--expr-file: expression longer than " + std::to_string(max_source_bytes()) + " bytes");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw Error(ErrorKind::Usage, "--expr-file '" + c.expr_file + "' holds no expression");
  c.expr = std::move(text);
}

// "more than one expression given ('x'*A*y' and 'y'); ...", with the --wrt
// list that the extra names would make.
std::string more_than_one(const std::string& expr, const std::vector<std::string>& extras, const Common& c) {
  std::string quoted = "'" + expr + "'";
  bool names = !extras.empty();
  for (std::size_t i = 0; i < extras.size(); ++i) {
    quoted += (i + 1 == extras.size() ? " and '" : ", '") + extras[i] + "'";
    names = names && identifier_shaped(extras[i]);
  }
  std::string wrt = "x y";
  if (names && !c.wrt.empty()) {
    wrt.clear();
    for (const std::string& x : c.wrt) wrt += (wrt.empty() ? "" : " ") + x;
    for (const std::string& x : extras) wrt += " " + x;
  }
  return "more than one expression given (" + quoted + "); to differentiate w.r.t. several variables write --wrt " +
         wrt;
}

void add_common(CLI::App* cmd, Common& c, bool wrt_required) {
  cmd->add_option("EXPR", c.expr,
                  "the expression (LANGUAGE.md); declarations may precede it, separated by ';' or line breaks; "
                  "'#' starts a comment");
  cmd->add_option("--expr-file", c.expr_file,
                  "read EXPR from a file ('-': stdin), for long expressions; declarations may precede it");
  auto* w = cmd->add_option("--wrt", c.wrt,
                            "variables to differentiate with respect to: --wrt x y or --wrt x --wrt y. --wrt "
                            "takes every name (letters, digits, '_') that follows it; with no EXPR elsewhere, "
                            "the last name of the last list of two or more is EXPR (eval --wrt s s)")
                ->allow_extra_args(false);
  if (wrt_required) w->required();
  cmd->add_option("--decl", c.decls,
                  "declarations, e.g. \"W: matrix(n,k); s: scalar; S: symmetric(n)\" (may be repeated)")
      ->allow_extra_args(false);
  cmd->add_flag("--show-types", c.show_types,
                "print 'types: ...' (every symbol, declared or inferred) on stderr before the result");
  cmd->add_flag("--strict", c.strict, "make inference warnings errors (exit 2)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"matcalc: symbolic matrix calculus — gradients in closed matrix form, checked numerically"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "matcalc 0.1.0");

  Common grad_c, eval_c, check_c;
  std::string format = "text", values;
  std::vector<std::string> eval_dims, check_dims, check_given;
  bool json = false;
  std::string seed = "1", tolerance = "1e-5";

  CLI::App* grad = app.add_subcommand("grad", "print the simplified gradient of a scalar expression");
  add_common(grad, grad_c, true);
  grad->add_option("--format", format, "text (default), latex, numpy, torch, eigen (C++), json")
      ->check(CLI::IsMember({"text", "latex", "numpy", "torch", "eigen", "json"}));

  CLI::App* eval = app.add_subcommand("eval", "evaluate an expression (and its gradients) at given values");
  add_common(eval, eval_c, false);
  eval->add_option("--values", values, "JSON file mapping each symbol to a number, a list or a list of rows")
      ->required();
  eval->add_flag("--json", json, "print one JSON object {\"value\": ..., \"gradient\": {...}}");
  eval->add_option("--dims", eval_dims, "sizes of dimension symbols that no value carries, e.g. n=5,k=3")
      ->allow_extra_args(false);
  bool eval_hessian = false;
  eval->add_flag("--hessian", eval_hessian,
                 "also print the Hessian of each --wrt variable (numel(X) x numel(X), column-major vec)");

  CLI::App* check = app.add_subcommand(
      "check", "compare the symbolic gradient (or one given with --gradient) with central finite differences");
  add_common(check, check_c, true);
  check->add_option("--dims", check_dims, "sizes of dimension symbols, e.g. n=5,k=3 (others random in 2..5)")
      ->allow_extra_args(false);
  check->add_option("--seed", seed, "random seed (default 1)");
  check->add_option("--tolerance", tolerance,
                    "largest accepted relative error, a positive number (default 1e-5); an error within the "
                    "measured noise floor of the finite differences passes too, and the output says so");
  check
      ->add_option("--gradient", check_given,
                   "check this gradient instead of matcalc's: a formula in the symbols of EXPR with the shape of "
                   "the --wrt variable (one per --wrt, in the same order)")
      ->allow_extra_args(false);
  CheckWhat check_what;
  check->add_flag("--hessian", check_what.hessian,
                  "check the Hessian (each variable's block and the cross blocks) against central differences of "
                  "the gradient, and its symmetry");
  check->add_flag("--jacobian", check_what.jacobian,
                  "check the Jacobian of an expression of any shape against central differences of it");
  check->add_flag("--hvp", check_what.hvp,
                  "check the Hessian-vector product against central differences of the gradient along the "
                  "direction");
  check
      ->add_option("--direction", check_what.direction,
                   "with --hvp: the name of the direction (default V), a new symbol of X's shape")
      ->each([&check_what](const std::string&) { check_what.direction_given = true; });

  Common jacobian_c, hessian_c, hvp_c;
  std::string second_format = "text", direction = "V";
  const auto formats = CLI::IsMember({"text", "latex", "numpy", "torch", "eigen", "json"});
  CLI::App* jacobian_cmd =
      app.add_subcommand("jacobian", "print the Jacobian d vec(F) / d vec(X) of an expression, in closed form");
  add_common(jacobian_cmd, jacobian_c, true);
  jacobian_cmd->add_option("--format", second_format, "text (default), latex, numpy, torch, eigen (C++), json")
      ->check(formats);
  CLI::App* hessian_cmd = app.add_subcommand(
      "hessian", "print the Hessian of a scalar expression (--wrt X --wrt Y: the cross block), in closed form");
  add_common(hessian_cmd, hessian_c, true);
  hessian_cmd->add_option("--format", second_format, "text (default), latex, numpy, torch, eigen (C++), json")
      ->check(formats);
  CLI::App* hvp_cmd = app.add_subcommand(
      "hvp", "print the Hessian of a scalar expression applied to a direction V, shaped like the variable");
  add_common(hvp_cmd, hvp_c, true);
  hvp_cmd->add_option("--direction", direction, "the name of the direction (default V), a new symbol of X's shape");
  hvp_cmd->add_option("--format", second_format, "text (default), latex, numpy, torch, eigen (C++), json")
      ->check(formats);

  Common explain_c;
  std::string explain_format = "text";
  CLI::App* explain_cmd = app.add_subcommand("explain", "derive the gradient step by step, naming each rule");
  add_common(explain_cmd, explain_c, true);
  explain_cmd->add_option("--format", explain_format, "text (default), latex, markdown, json")
      ->check(CLI::IsMember({"text", "latex", "markdown", "json"}));
  bool explain_hessian = false;
  explain_cmd->add_flag("--hessian", explain_hessian,
                        "derive the Hessian: the differential of the gradient step by step, then its vec form");

  std::string rule_name, rule_search, rules_format = "text";
  CLI::App* rules_cmd = app.add_subcommand("rules", "the rule book: every rule matcalc uses, or one of them");
  rules_cmd->add_option("NAME", rule_name, "show the rule with this name");
  rules_cmd->add_option("--search", rule_search, "show the rules that mention WORD");
  rules_cmd->add_option("--format", rules_format, "text (default), latex, markdown, json")
      ->check(CLI::IsMember({"text", "latex", "markdown", "json"}));

  SplitArgs split;
  try {
    split = split_expression(argc, argv);
  } catch (const Error& e) {
    std::cerr << format_error(e, "");
    return kExitBadInput;
  }
  std::vector<char*> cargs;
  for (auto& a : split.args) cargs.push_back(a.data());
  Common* active = nullptr;  // the command's EXPR and options; none for rules
  try {
    // A first word that names no command: say so (CLI11 would only report
    // that a subcommand is required).
    if (cargs.size() > 1 && cargs[1][0] != '-') {
      std::string names;
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        known = known || sub->get_name() == cargs[1];
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known) throw Error(ErrorKind::Usage, std::string("unknown command '") + cargs[1] + "' (" + names + ")");
      if (const CLI::App* sub = app.get_subcommand(cargs[1]); !sub->get_allow_extras())
        check_options_known(app, *sub, split.args);
    }
    app.parse(static_cast<int>(cargs.size()), cargs.data());
    active = grad->parsed()           ? &grad_c
             : eval->parsed()         ? &eval_c
             : check->parsed()        ? &check_c
             : explain_cmd->parsed()  ? &explain_c
             : jacobian_cmd->parsed() ? &jacobian_c
             : hessian_cmd->parsed()  ? &hessian_c
             : hvp_cmd->parsed()      ? &hvp_c
                                      : nullptr;  // rules: no expression
    if (!active && split.expr) throw CLI::ParseError("rules takes a NAME, not an expression", 2);
    if (active) {
      for (const std::string& d : active->decls) active->decl += (active->decl.empty() ? "" : "; ") + d;
      for (const std::string& x : active->wrt)
        if (x.find(',') != std::string::npos)
          throw Error(ErrorKind::Usage, "--wrt '" + x + "': give the variables as --wrt x y or --wrt x --wrt y");
      if (split.expr) {
        if (!active->expr.empty()) throw Error(ErrorKind::Usage, more_than_one(active->expr, {*split.expr}, *active));
        active->expr = *split.expr;
      }
      if (active->expr.empty() && active->expr_file.empty() && split.last_list >= 2) {
        active->expr = active->wrt.back();  // `eval --wrt s s`: the last name is EXPR
        active->wrt.pop_back();
      }
      if (!active->expr_file.empty()) read_expr_file(*active);
      if (active->expr.empty())
        throw CLI::ParseError(split.wrt_list
                                  ? "EXPR is required; --wrt takes every name that follows it, so write EXPR before "
                                    "--wrt, or after '--' (matcalc grad --wrt x -- x)"
                                  : "EXPR is required",
                              2);
    }
  } catch (const CLI::ExtrasError& e) {
    // A second EXPR (`grad --wrt x "x'*A*y" y`): most likely a --wrt name.
    const CLI::App* sub = cargs.size() > 1 ? app.get_subcommand(cargs[1]) : nullptr;
    Common* c = sub == grad           ? &grad_c
                : sub == eval         ? &eval_c
                : sub == check        ? &check_c
                : sub == explain_cmd  ? &explain_c
                : sub == jacobian_cmd ? &jacobian_c
                : sub == hessian_cmd  ? &hessian_c
                : sub == hvp_cmd      ? &hvp_c
                                      : nullptr;
    if (!c || c->expr.empty()) {
      std::cerr << "error: " << e.what() << "\nRun 'matcalc --help' or 'matcalc COMMAND --help' for usage.\n";
      return kExitBadInput;
    }
    std::vector<std::string> extras = sub->remaining();
    if (split.expr) extras.insert(extras.begin(), *split.expr);
    std::cerr << format_error(Error(ErrorKind::Usage, more_than_one(c->expr, extras, *c)), "");
    return kExitBadInput;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\nRun 'matcalc --help' or 'matcalc COMMAND --help' for usage.\n";
    return kExitBadInput;
  } catch (const Error& e) {
    std::cerr << format_error(e, "");
    return kExitBadInput;
  }

  try {
    if (active == &grad_c) return run_grad(grad_c, format);
    if (active == &eval_c) return run_eval(eval_c, values, json, eval_dims, eval_hessian);
    if (active == &check_c) return run_check(check_c, check_dims, seed, tolerance, check_given, check_what);
    if (active == &explain_c) return run_explain(explain_c, explain_format, explain_hessian);
    if (active == &jacobian_c) return run_second_order(jacobian_c, Derivative::Jacobian, second_format, direction);
    if (active == &hessian_c) return run_second_order(hessian_c, Derivative::Hessian, second_format, direction);
    if (active == &hvp_c) return run_second_order(hvp_c, Derivative::Hvp, second_format, direction);
    return run_rules(rule_name, rule_search, rules_format);
  } catch (const Error& e) {
    const bool in_decl = e.source() == ErrorSource::Declarations;
    std::cerr << (in_decl ? "in --decl: " : "")
              << format_error(e, !active   ? ""
                                 : in_decl ? active->decl
                                           : active->expr);
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "error: internal error (please report): " << e.what() << "\n";
    return kExitBadInput;
  }
}
