// Hints for unknown function names (see suggest.hpp). The known names come
// from the one list of operators (ir/ops.def): every Call-form spelling. A
// hint is, in order: the usual alias from another tool (trace, norm, expm,
// ...), a case-insensitive match, then the names within a small edit
// distance.
#include "parse/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

#include "ir/ops.hpp"

namespace matcalc {

namespace {

// Names from other tools (MATLAB, NumPy, Mathematica, the Matrix Cookbook)
// and what matcalc writes instead. Matched case-insensitively.
struct Alias {
  std::string_view name;
  std::string_view hint;
};
constexpr Alias kAliases[] = {
    {"trace", "matcalc writes the trace tr(X)"},
    {"norm",
     "norm2(x) is the Euclidean norm of a vector and the Frobenius norm of a matrix; norm1(x) the sum of "
     "absolute values"},
    {"frobenius", "the Frobenius norm is norm2(X)"},
    {"fro", "the Frobenius norm is norm2(X)"},
    {"transpose", "matcalc writes the transpose with a postfix ': X'"},
    {"t", "matcalc writes the transpose with a postfix ': X'"},
    {"trans", "matcalc writes the transpose with a postfix ': X'"},
    {"expm", "the matrix exponential is not in the language; exp(X) is elementwise"},
    {"logm", "the matrix logarithm is not in the language; log(X) is elementwise, and logdet(X) is log(det(X))"},
    {"sqrtm", "the matrix square root is not in the language; sqrt(X) is elementwise"},
    {"inverse", "the inverse is inv(X)"},
    {"pinv", "the pseudo-inverse is not in the language; inv(X) inverts a square matrix"},
    {"log_det", "the log-determinant is logdet(X)"},
    {"logdeterminant", "the log-determinant is logdet(X)"},
    {"determinant", "the determinant is det(X)"},
    {"dot", "write the inner product of vectors as x'*y, of matrices as A : B"},
    {"inner", "write the inner product of vectors as x'*y, of matrices as A : B"},
    {"outer", "write the outer product as x*y'"},
    {"identity", "the identity is I, or eye(n) with its size"},
    {"ln", "the natural logarithm is log(x)"},
    {"pow", "write powers as a^p, or a.^p entry by entry"},
    {"power", "write powers as a^p, or a.^p entry by entry"},
    {"square", "write the square as x^2 for a scalar, x.^2 entry by entry"},
    {"matmul", "write the matrix product as A*B"},
    {"mul", "write the matrix product as A*B, the entrywise product as A .* B"},
    {"hadamard", "write the entrywise product as A .* B"},
    {"kronecker", "the Kronecker product is kron(A,B)"},
    {"logistic", "the logistic function is sigmoid(x)"},
    {"lse", "log-sum-exp is logsumexp(x)"},
    {"diagonal", "diag(X) is the diagonal of a matrix, diag(x) the diagonal matrix of a vector"},
    {"symmetrize", "sym(X) is (X + X')/2"},
    {"vectorize", "vec(X) stacks the columns of X"},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The spellings of every function of the language, in list order, once each.
std::vector<std::string> function_names() {
  std::vector<std::string> out;
  for (int i = 0; i < kOpCount; ++i) {
    Op op = op_at(i);
    if (op_form(op) != OpForm::Call) continue;
    std::string name(op_spelling(op));
    if (is_function_name(name) && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::string hint(const std::string& name) {
  const std::string low = lower(name);
  // An alias also matches without '_' (logDet, log_det, LogDet).
  std::string squeezed;
  for (char c : low)
    if (c != '_') squeezed += c;
  for (const Alias& a : kAliases)
    if (low == a.name || squeezed == a.name) return std::string(a.hint);
  const std::vector<std::string> names = function_names();
  for (const std::string& n : names)
    if (low == n || squeezed == n) return "function names are lower case: " + n;
  // Close spellings: distance 1 for short names, 2 from four letters on.
  const std::size_t limit = name.size() <= 3 ? 1 : 2;
  std::size_t best = limit + 1;
  std::vector<std::string> close;
  for (const std::string& n : names) {
    std::size_t d = edit_distance(low, n);
    if (d < best) best = d, close.clear();
    if (d == best) close.push_back(n);
  }
  if (best > limit || close.size() > 3) return "";
  std::string out = "did you mean ";
  for (std::size_t i = 0; i < close.size(); ++i)
    out += (i == 0 ? "" : i + 1 == close.size() ? " or " : ", ") + close[i];
  return out + "?";
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_function_message(const std::string& name, const std::string& argument) {
  std::string h = hint(name);
  // The transpose hint writes its example as X': the argument itself reads
  // better where it is known, in parentheses unless it is a name.
  const std::string example = "postfix ': X'";
  if (std::size_t at = h.find(example); at != std::string::npos && !argument.empty() && argument.size() <= 40) {
    const bool name_shaped = std::all_of(argument.begin(), argument.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
    h.replace(at + example.size() - 2, 1, name_shaped ? argument : "(" + argument + ")");
  }
  return "unknown function '" + name + "'" + (h.empty() ? "" : " (" + h + ")");
}

}  // namespace matcalc
