#include "print/text.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "print/precedence.hpp"
#include "print/spellings.hpp"

namespace matcalc {

namespace {

std::string shape_args(const Shape& s) {
  if (s.cols.is_one()) return s.rows.str();
  return s.rows.str() + "," + s.cols.str();
}

class TextPrinter {
 public:
  explicit TextPrinter(const Spellings* spellings = nullptr) : spellings_(spellings) {}

  // `known`: an identity here has a size readable from its place.
  std::string print(Expr e, bool known = false) {
    if (spellings_)
      if (auto it = spellings_->find(e); it != spellings_->end()) return it->second;
    if (std::optional<TextOwn> own = text_own(e->op)) return own_syntax(*own, e, known);
    // A call: name(a, b, ...), the ops.def spelling (spellings.def's text
    // column is checked equal to it, so that text reads back).
    std::string s = std::string(op_spelling(e->op)) + "(";
    for (std::size_t i = 0; i < e->kids.size(); ++i) s += (i ? ", " : "") + print(e->kid(i));
    return s + ")";
  }

 private:
  const Spellings* spellings_;

  // The operators this printer writes with code of its own (spellings.def).
  std::string own_syntax(TextOwn op, Expr e, bool known) {
    switch (op) {
      case TextOwn::Const: return format_number(e->value);
      case TextOwn::Symbol: return e->name;
      case TextOwn::Identity: return known ? "I" : "eye(" + e->shape.rows.str() + ")";
      case TextOwn::Zeros: return "zeros(" + shape_args(e->shape) + ")";
      case TextOwn::Ones: return "ones(" + shape_args(e->shape) + ")";
      case TextOwn::Commutation: return "commutation(" + e->param.rows.str() + "," + e->param.cols.str() + ")";
      case TextOwn::Add: {
        bool k = known || identity_size_known_in_sum(e);
        const std::vector<bool> broadcast = broadcast_terms(e);
        const std::vector<SignedTerm> terms = signed_terms(e);
        std::string s;
        for (std::size_t i = 0; i < terms.size(); ++i) {
          const SignedTerm t = broadcast[i] ? negated_sum_as_sign(terms[i]) : terms[i];
          const bool first = i == 0;
          // A negated term binds at product level: a - b*c, a - (b - c) cannot occur.
          // A broadcast term c*ones(n) prints as c, which binds at product level too.
          std::string body = broadcast[i] ? scalar_part(t.magnitude)
                                          : wrap(t.magnitude, first && !t.negative ? kPrecSum : kPrecProduct, k);
          if (first)
            s = t.negative ? "-" + body : body;
          else
            s += (t.negative ? " - " : " + ") + body;
        }
        return s;
      }
      case TextOwn::Mul: return product(e, known);
      case TextOwn::Pow: return wrap(e->kid(0), kPrecAtom) + "^" + exponent(e->kid(1));
      case TextOwn::MatPow: return wrap(e->kid(0), kPrecAtom) + "^" + std::to_string(e->power);
      case TextOwn::ElemMul: {
        std::string s;
        for (Expr k : e->kids) s += (s.empty() ? "" : " .* ") + wrap(k, kPrecUnary);
        return s;
      }
      case TextOwn::ElemDiv: return wrap(e->kid(0), kPrecProduct) + " ./ " + wrap(e->kid(1), kPrecUnary);
      case TextOwn::ElemPow: return wrap(e->kid(0), kPrecAtom) + ".^" + exponent(e->kid(1));
      case TextOwn::Transpose: return wrap(e->kid(0), kPrecAtom) + "'";
      case TextOwn::Reshape:
        return "reshape(" + print(e->kid(0)) + ", " + e->shape.rows.str() + ", " + e->shape.cols.str() + ")";
    }
    return {};  // unreachable: the switch names every TextOwn
  }

  std::string wrap(Expr e, int min_prec, bool known = false) {
    std::string s = print(e, known);
    bool atom = spellings_ && spellings_->count(e);  // a given spelling is a name
    return atom || precedence(e) >= min_prec ? s : "(" + s + ")";
  }

  std::string exponent(Expr p) {
    if (p->op == Op::Const) return format_number(p->value);  // x^-1 reads back: the sign belongs to ^
    return wrap(p, kPrecAtom);
  }

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
    std::vector<std::string> parts;
    bool chain_known = known || p.chain.size() > 1;
    for (Expr f : p.numerator) parts.push_back(wrap(f, kPrecUnary));
    for (Expr f : p.chain) parts.push_back(wrap(f, kPrecUnary, chain_known));
    std::string s;
    double c = p.coef;
    bool minus = c < 0;
    if (minus) c = -c;
    // A coefficient in front of two sums or more was left there by mul();
    // parsed left to right, -Y*A*B would move it into A: write -(Y*A*B).
    const auto sums = std::count_if(p.numerator.begin(), p.numerator.end(), [](Expr f) { return f->op == Op::Add; }) +
                      std::count_if(p.chain.begin(), p.chain.end(), [](Expr f) { return f->op == Op::Add; });
    const bool group = p.coef != 1 && sums >= 2;
    if (c != 1 || parts.empty()) s = format_number(c);
    std::string rest;
    for (const auto& part : parts) rest += (rest.empty() ? "" : "*") + part;
    if (group) rest = "(" + rest + ")";
    s += (s.empty() || rest.empty() ? "" : "*") + rest;
    for (Expr d : p.denominator) s += "/" + wrap(d, kPrecUnary);
    if (p.divisor != 1) s += "/" + format_number(p.divisor);
    return minus ? "-" + s : s;
  }
};

}  // namespace

std::string to_text(Expr e) { return to_text(e, {}); }
std::string to_text(Expr e, const Spellings& spellings) {
  check_printable(e);
  return TextPrinter(&spellings).print(e);
}

std::string to_declaration(Expr symbol) {
  const Shape& s = symbol->shape;
  std::string kind = s.is_scalar()        ? "scalar"
                     : symbol->symmetric ? "symmetric(" + s.rows.str() + ")"
                     : s.is_col()        ? "vector(" + s.rows.str() + ")"
                                         : "matrix(" + s.rows.str() + "," + s.cols.str() + ")";
  return symbol->name + ": " + kind;
}

}  // namespace matcalc
