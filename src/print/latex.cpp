// The LaTeX printer. It guarantees:
//   - completeness: an operator is printed from its LaTeX column of
//     print/spellings.def (a call: \name\left(...\right)) or, where that
//     column says Own, by a case of the switch over LatexOwn here (no
//     default, so a new Own entry does not compile until it has a case);
//   - the layout of the text printer (same precedence base, same product
//     layout, same rule for when an identity's size can be left out), with
//     parentheses only where the precedence table needs them, written as
//     \left( \right);
//   - no simplification: the tree given is the tree printed.
// Notation: X^\top, X^{-1} (X^{-\top} for inv(X')), \operatorname{tr}, \det,
// \log\det, \odot, \oslash, \otimes, X^{\circ p} for .^, \frac for scalar
// division, juxtaposition (\,) for products, \cdot only between two numbers.
#include "print/latex.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <string_view>

#include "print/precedence.hpp"
#include "print/spellings.hpp"

namespace matcalc {

namespace {

constexpr std::string_view kJuxtapose = "\\,";

// Greek letters that have a LaTeX macro of the same name (omicron has none).
constexpr std::array<std::string_view, 40> kGreek = {
    "alpha", "beta",  "gamma", "delta",   "epsilon", "varepsilon", "zeta",   "eta",
    "theta", "vartheta", "iota", "kappa", "lambda",  "mu",         "nu",     "xi",
    "pi",    "varpi", "rho",   "varrho",  "sigma",   "varsigma",   "tau",    "upsilon",
    "phi",   "varphi", "chi",  "psi",     "omega",   "Gamma",      "Delta",  "Theta",
    "Lambda", "Xi",   "Pi",    "Sigma",   "Upsilon", "Phi",        "Psi",    "Omega"};

bool is_greek(std::string_view s) {
  for (std::string_view g : kGreek)
    if (s == g) return true;
  return false;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string escape_underscores(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '_') out += '\\';
    out += c;
  }
  return out;
}

// A name without subscript: `x`, `\sigma`, `\mathit{rate}`.
std::string plain_name(std::string_view s) {
  if (s.size() == 1) return std::string(s);
  if (is_greek(s)) return "\\" + std::string(s);
  return "\\mathit{" + escape_underscores(s) + "}";
}

// Symbols: `x`, `\lambda`, `\mathit{rate}`; a single letter or Greek name
// followed by digits or `_suffix` reads as a subscript (x1 -> x_{1}).
std::string latex_name(const std::string& name) {
  std::size_t digits = name.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(name[digits - 1]))) --digits;
  std::string_view base(name.data(), digits);
  if (digits > 0 && digits < name.size() && (base.size() == 1 || is_greek(base)))
    return plain_name(base) + "_{" + name.substr(digits) + "}";
  std::size_t us = name.find('_');
  if (us != std::string::npos && us > 0 && us + 1 < name.size()) {
    std::string_view head(name.data(), us);
    std::string_view tail(name.data() + us + 1, name.size() - us - 1);
    if (head.size() == 1 || is_greek(head)) {
      std::string sub = tail.size() == 1 || all_digits(tail) ? std::string(tail) : plain_name(tail);
      return plain_name(head) + "_{" + sub + "}";
    }
  }
  return plain_name(name);
}

// `3`, `n`, `2 n k` (juxtaposed in LaTeX).
std::string latex_dim(const Dim& d) {
  std::string s;
  if (d.coeff() != 1 || d.factors().empty()) s = std::to_string(d.coeff());
  for (const auto& f : d.factors()) s += (s.empty() ? "" : " ") + latex_name(f);
  return s;
}

// Numbers without trailing zeros; 1e-06 -> 10^{-6}, 2.5e+20 -> 2.5 \cdot 10^{20}.
std::string latex_number(double v) {
  if (std::isnan(v)) return "\\mathrm{NaN}";
  if (std::isinf(v)) return v < 0 ? "-\\infty" : "\\infty";
  std::string s = format_number(v);
  std::size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mant = s.substr(0, e);
  int exp = std::stoi(s.substr(e + 1));
  std::string pow10 = "10^{" + std::to_string(exp) + "}";
  if (mant == "1") return pow10;
  if (mant == "-1") return "-" + pow10;
  return mant + " \\cdot " + pow10;
}

bool is_exponent_form(double v) { return format_number(v).find('e') != std::string::npos; }

// The precedence a node prints at in LaTeX. It differs from the text
// printer's where the notation differs: inv(X) is the superscript X^{-1},
// kron is the infix \otimes, a number like 10^{-6} is a power or a product.
int latex_precedence(Expr e) {
  if (std::optional<LatexOwn> op = latex_own(e->op)) {
    // clang-format off
    switch (*op) {
      case LatexOwn::Inv: return kPrecPower;
      case LatexOwn::Kron: return kPrecProduct;
      case LatexOwn::Ones: return e->shape.is_row() ? kPrecPower : kPrecAtom;  // \mathbf{1}_{n}^\top
      case LatexOwn::Const:
        if (e->value < 0) return kPrecUnary;
        if (is_exponent_form(e->value)) return kPrecProduct;
        return kPrecAtom;
      case LatexOwn::Symbol: case LatexOwn::Identity: case LatexOwn::Zeros: case LatexOwn::Add: case LatexOwn::Commutation:
      case LatexOwn::Mul: case LatexOwn::Pow: case LatexOwn::MatPow: case LatexOwn::ElemMul:
      case LatexOwn::ElemDiv: case LatexOwn::ElemPow: case LatexOwn::Transpose: case LatexOwn::Norm2:
      case LatexOwn::Norm1: case LatexOwn::Reshape: case LatexOwn::Sqrt: case LatexOwn::Abs:
        break;
    }
    // clang-format on
  }
  return precedence(e);
}

bool starts_with_digit(const std::string& s) { return !s.empty() && std::isdigit(static_cast<unsigned char>(s.front())); }
bool ends_with_digit(const std::string& s) { return !s.empty() && std::isdigit(static_cast<unsigned char>(s.back())); }

// Juxtaposes factors: `\,` between them, `\cdot` where two numbers would
// otherwise run together (2 \cdot 3^{x}).
std::string juxtapose(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) {
    if (!s.empty()) s += ends_with_digit(s) && starts_with_digit(p) ? " \\cdot " : std::string(kJuxtapose);
    s += p;
  }
  return s;
}

std::string paren(const std::string& s) { return "\\left(" + s + "\\right)"; }

class LatexPrinter {
 public:
  explicit LatexPrinter(const Spellings* spellings = nullptr) : spellings_(spellings) {}

  // `known`: an identity here has a size readable from its place (as in the
  // text printer), so it prints as I rather than I_{n}.
  std::string print(Expr e, bool known = false) {
    if (spellings_)
      if (auto it = spellings_->find(e); it != spellings_->end()) return it->second;
    if (std::optional<LatexOwn> own = latex_own(e->op)) return own_syntax(*own, e, known);
    // A call, spelled from print/spellings.def: \name\left(a, b\right).
    std::string args;
    for (std::size_t i = 0; i < e->kids.size(); ++i) args += (i ? ", " : "") + print(e->kid(i));
    return std::string(spellings_of(e->op).latex.name) + paren(args);
  }

 private:
  const Spellings* spellings_;

  // The operators this printer writes with code of its own (spellings.def).
  std::string own_syntax(LatexOwn op, Expr e, bool known) {
    switch (op) {
      case LatexOwn::Const: return latex_number(e->value);
      case LatexOwn::Symbol: return latex_name(e->name);
      case LatexOwn::Identity: return known ? "I" : "I_{" + latex_dim(e->shape.rows) + "}";
      case LatexOwn::Zeros: return "0";
      case LatexOwn::Commutation:  // the commutation matrix, as Magnus and Neudecker write it
        return "K_{" + latex_dim(e->param.rows) + "," + latex_dim(e->param.cols) + "}";
      case LatexOwn::Ones:
        if (e->shape.is_col()) return "\\mathbf{1}_{" + latex_dim(e->shape.rows) + "}";
        if (e->shape.is_row()) return "\\mathbf{1}_{" + latex_dim(e->shape.cols) + "}^\\top";
        return "\\mathbf{1}_{" + latex_dim(e->shape.rows) + "\\times " + latex_dim(e->shape.cols) + "}";
      case LatexOwn::Add: return sum(e, known);
      case LatexOwn::Mul: return product(e, known);
      case LatexOwn::Pow: return superscript_base(e->kid(0)) + "^{" + exponent(e->kid(1)) + "}";
      case LatexOwn::MatPow: return superscript_base(e->kid(0)) + "^{" + std::to_string(e->power) + "}";
      case LatexOwn::ElemMul: {
        std::string s;
        for (Expr k : e->kids) s += (s.empty() ? "" : " \\odot ") + wrap(k, kPrecUnary);
        return s;
      }
      case LatexOwn::ElemDiv: return wrap(e->kid(0), kPrecProduct) + " \\oslash " + wrap(e->kid(1), kPrecUnary);
      case LatexOwn::ElemPow: return superscript_base(e->kid(0)) + "^{\\circ " + exponent(e->kid(1)) + "}";
      case LatexOwn::Transpose: return superscript_base(e->kid(0)) + "^\\top";
      case LatexOwn::Inv: {
        Expr a = e->kid(0);
        // inv(X') = X^{-\top}: one superscript instead of nested ones.
        if (a->op == Op::Transpose && latex_precedence(a->kid(0)) >= kPrecAtom)
          return print(a->kid(0)) + "^{-\\top}";
        return superscript_base(a) + "^{-1}";
      }
      case LatexOwn::Norm2:
        // norm2 of a matrix is the Frobenius norm.
        return "\\left\\|" + print(e->kid(0)) + "\\right\\|_" + (e->kid(0)->shape.is_vector_like() ? "2" : "F");
      case LatexOwn::Norm1: return "\\left\\|" + print(e->kid(0)) + "\\right\\|_1";
      case LatexOwn::Reshape:
        return "\\operatorname{reshape}\\left(" + print(e->kid(0)) + ", " + latex_dim(e->shape.rows) + ", " +
               latex_dim(e->shape.cols) + "\\right)";
      case LatexOwn::Kron: return kron_operand(e->kid(0)) + " \\otimes " + kron_operand(e->kid(1));
      case LatexOwn::Sqrt: return "\\sqrt{" + print(e->kid(0)) + "}";
      case LatexOwn::Abs: return "\\left|" + print(e->kid(0)) + "\\right|";
    }
    return {};  // unreachable: the switch names every LatexOwn
  }

  std::string wrap(Expr e, int min_prec, bool known = false) {
    std::string s = print(e, known);
    bool atom = spellings_ && spellings_->count(e);  // a given spelling is a name
    return atom || latex_precedence(e) >= min_prec ? s : paren(s);
  }

  // A superscript needs an atom below it: (X^2)^\top, never X^2^\top.
  std::string superscript_base(Expr e) { return wrap(e, kPrecAtom); }

  // An exponent sits in braces, so it never needs parentheses.
  std::string exponent(Expr p) { return print(p); }

  // Kronecker products are associative, so A \otimes B \otimes C needs no
  // parentheses; anything looser than a power does.
  std::string kron_operand(Expr k) { return k->op == Op::Kron ? print(k) : wrap(k, kPrecUnary); }

  std::string sum(Expr e, bool known) {
    bool k = known || identity_size_known_in_sum(e);
    const std::vector<bool> broadcast = broadcast_terms(e);
    const std::vector<SignedTerm> terms = signed_terms(e);
    std::string s;
    for (std::size_t i = 0; i < terms.size(); ++i) {
      const SignedTerm t = broadcast[i] ? negated_sum_as_sign(terms[i]) : terms[i];
      const bool first = i == 0;
      // As in the text printer: a negated term binds at product level, and a
      // broadcast term c \mathbf{1}_{n} prints as c (1 + \exp(v)).
      std::string body = broadcast[i] ? scalar_part(t.magnitude)
                                      : wrap(t.magnitude, first && !t.negative ? kPrecSum : kPrecProduct, k);
      if (first)
        s = t.negative ? "-" + body : body;
      else
        s += (t.negative ? " - " : " + ") + body;
    }
    return s;
  }

  // coef * num... * chain... / den...: scalar division is a \frac of the
  // scalar factors, and the matrix chain follows it (\frac{2}{s} W).
  // ones(n) -> 1, c*ones(n) -> c: a broadcast term of a vector sum without
  // its column of ones (print/precedence.hpp, is_broadcast_term).
  std::string scalar_part(Expr term) {
    if (term->op == Op::Ones) return "1";
    if (Expr f = lone_broadcast_factor(term)) return wrap(f, kPrecProduct);
    return product(term, false, true);
  }

  // `scalar_only`: leave out the matrix chain (a broadcast term's ones).
  std::string product(Expr e, bool known, bool scalar_only = false) {
    ProductLayout p = layout_product(e);
    if (scalar_only) p.chain.clear();
    bool chain_known = known || p.chain.size() > 1;
    double c = p.coef;
    bool minus = c < 0;
    if (minus) c = -c;

    std::vector<std::string> scalars;
    for (Expr f : p.numerator) scalars.push_back(wrap(f, kPrecUnary));
    std::vector<std::string> chain;
    for (Expr f : p.chain) chain.push_back(wrap(f, kPrecUnary, chain_known));

    std::vector<std::string> parts;
    if (!p.denominator.empty() || p.divisor != 1) {
      // A lone factor above or below the bar needs no parentheses: \frac{a + b}{c + d}.
      std::vector<std::string> num;
      if (c != 1 || scalars.empty()) num.push_back(latex_number(c));
      if (num.empty() && p.numerator.size() == 1)
        num.push_back(print(p.numerator[0]));
      else
        num.insert(num.end(), scalars.begin(), scalars.end());
      // The number leads below the bar as it does above it: \frac{1}{2\,s}.
      std::vector<std::string> den;
      if (p.divisor != 1) den.push_back(latex_number(p.divisor));
      bool lone = den.empty() && p.denominator.size() == 1;
      for (Expr d : p.denominator) den.push_back(lone ? print(d) : wrap(d, kPrecUnary));
      // A unit coefficient shows only when the numerator is otherwise empty: \frac{1}{2} x.
      parts.push_back("\\frac{" + juxtapose(num) + "}{" + juxtapose(den) + "}");
    } else {
      if (c != 1 || (scalars.empty() && chain.empty())) parts.push_back(latex_number(c));
      parts.insert(parts.end(), scalars.begin(), scalars.end());
    }
    parts.insert(parts.end(), chain.begin(), chain.end());
    std::string s = juxtapose(parts);
    return minus ? "-" + s : s;
  }
};

}  // namespace

std::string to_latex(Expr e) { return to_latex(e, {}); }
std::string to_latex(Expr e, const Spellings& spellings) {
  check_printable(e);
  return LatexPrinter(&spellings).print(e);
}

}  // namespace matcalc
