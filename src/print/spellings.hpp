// The printers' spellings of the operators, from print/spellings.def (whose
// header comment explains the design), checked against ir/ops.def at compile
// time:
//   - the rows cover ops.def exactly, in its order;
//   - an operator that ops.def writes with symbols (Literal, Infix, Postfix)
//     is `Own` in every column;
//   - a text spelling is the operator's ops.def spelling (so text reads back);
//   - the NumPy and PyTorch columns agree on which operators are `Own`;
//   - Eigen's Method and Entrywise forms are used for unary operators only.
// For each target, an enum of exactly its `Own` operators (TextOwn,
// LatexOwn, PythonOwn, EigenOwn) and the lookup from Op; and SyntaxOp, the
// operators that ops.def writes with symbols.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ir/ops.hpp"

namespace matcalc {

// A column entry of the text, LaTeX, NumPy and PyTorch targets.
struct Spelling {
  bool own = true;        // written by the printer's own code
  std::string_view name;  // Fn: the function's name in that target
};

// A column entry of the Eigen target.
struct EigenSpelling {
  enum class Kind : std::uint8_t { Own, Method, Entrywise } kind = Kind::Own;
  std::string_view fn;      // Entrywise: the function of a double (std::exp)
  std::string_view method;  // Method, Entrywise: the member (trace, exp)
};

namespace spelling_table {

// The vocabulary of spellings.def.
struct OwnTag {
  constexpr operator Spelling() const { return {}; }
  constexpr operator EigenSpelling() const { return {}; }
};
inline constexpr OwnTag Own{};
constexpr Spelling Fn(std::string_view name) { return {false, name}; }
constexpr EigenSpelling Method(std::string_view m) { return {EigenSpelling::Kind::Method, {}, m}; }
constexpr EigenSpelling Entrywise(std::string_view f, std::string_view m) {
  return {EigenSpelling::Kind::Entrywise, f, m};
}

struct Row {
  Op op;
  Spelling text, latex, numpy, torch;
  EigenSpelling eigen;
};

inline constexpr Row kRows[] = {
#define MATCALC_SPELLING(E, T, L, N, P, G) {Op::E, T, L, N, P, G},
#include "print/spellings.def"
#undef MATCALC_SPELLING
};

// What ops.def says, as constants.
inline constexpr OpForm kForms[] = {
#define MATCALC_OP(E, S, F, A, C, R, D) OpForm::F,
#include "ir/ops.def"
#undef MATCALC_OP
};
inline constexpr int kArities[] = {
#define MATCALC_OP(E, S, F, A, C, R, D) A,
#include "ir/ops.def"
#undef MATCALC_OP
};
inline constexpr std::string_view kOpSpellings[] = {
#define MATCALC_OP(E, S, F, A, C, R, D) S,
#include "ir/ops.def"
#undef MATCALC_OP
};

constexpr bool rows_follow_ops() {
  if (std::size(kRows) != static_cast<std::size_t>(kOpCount)) return false;
  for (int i = 0; i < kOpCount; ++i)
    if (kRows[i].op != op_at(i)) return false;
  return true;
}
// (The other checks read only the rows that exist, so that a missing row is
// reported by rows_follow_ops() alone.)
constexpr int kCheckedRows = std::min(kOpCount, static_cast<int>(std::size(kRows)));
constexpr bool symbols_are_own() {
  for (int i = 0; i < kCheckedRows; ++i) {
    if (kForms[i] == OpForm::Call) continue;
    const Row& r = kRows[i];
    if (!r.text.own || !r.latex.own || !r.numpy.own || !r.torch.own || r.eigen.kind != EigenSpelling::Kind::Own)
      return false;
  }
  return true;
}
constexpr bool text_reads_back() {
  for (int i = 0; i < kCheckedRows; ++i)
    if (!kRows[i].text.own && kRows[i].text.name != kOpSpellings[i]) return false;
  return true;
}
constexpr bool python_dialects_agree() {
  for (const Row& r : kRows)
    if (r.numpy.own != r.torch.own) return false;
  return true;
}
constexpr bool eigen_forms_are_unary() {
  for (int i = 0; i < kCheckedRows; ++i)
    if (kRows[i].eigen.kind != EigenSpelling::Kind::Own && kArities[i] != 1) return false;
  return true;
}
static_assert(rows_follow_ops(), "print/spellings.def: one row per operator of ir/ops.def, in the same order");
static_assert(symbols_are_own(), "print/spellings.def: an operator written with symbols must be Own in every column");
static_assert(text_reads_back(), "print/spellings.def: a text Fn spelling must be the operator's ops.def spelling");
static_assert(python_dialects_agree(), "print/spellings.def: the numpy and torch columns must agree on Own");
static_assert(eigen_forms_are_unary(), "print/spellings.def: Eigen Method and Entrywise are for unary operators");

// Generating an enum of the `Own` entries of one column: the column's first
// token selects KEEP (Own) or DROP (Fn, Method, Entrywise).
#define MATCALC_SP_KEEP(x) x,
#define MATCALC_SP_DROP(x)
#define MATCALC_SP_OWN_Own MATCALC_SP_KEEP
#define MATCALC_SP_OWN_Fn(name) MATCALC_SP_DROP
#define MATCALC_SP_OWN_Method(m) MATCALC_SP_DROP
#define MATCALC_SP_OWN_Entrywise(f, m) MATCALC_SP_DROP
#define MATCALC_SP_IF_OWN(column, x) MATCALC_SP_OWN_##column(x)
// The same on ops.def's form column.
#define MATCALC_SP_SYNTAX_Literal MATCALC_SP_KEEP
#define MATCALC_SP_SYNTAX_Infix MATCALC_SP_KEEP
#define MATCALC_SP_SYNTAX_Postfix MATCALC_SP_KEEP
#define MATCALC_SP_SYNTAX_Call MATCALC_SP_DROP
#define MATCALC_SP_IF_SYNTAX(form, x) MATCALC_SP_SYNTAX_##form(x)

// Op -> its index in a list of operators, -1 where absent.
template <std::size_t N>
constexpr std::array<int, kOpCount> index_of(const Op (&ops)[N]) {
  std::array<int, kOpCount> at{};
  for (int& a : at) a = -1;
  for (std::size_t i = 0; i < N; ++i) at[static_cast<int>(ops[i])] = static_cast<int>(i);
  return at;
}

}  // namespace spelling_table

// The operators the text printer writes with its own code.
enum class TextOwn : std::uint8_t {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(T, E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
// The operators the LaTeX printer writes with its own code.
enum class LatexOwn : std::uint8_t {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(L, E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
// The operators the Python (NumPy and PyTorch) printer writes with its own code.
enum class PythonOwn : std::uint8_t {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(N, E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
// The operators the Eigen printer writes with its own code.
enum class EigenOwn : std::uint8_t {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(G, E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
// The operators that ops.def writes with symbols (a literal, infix or
// postfix): the only ones with a precedence of their own or a payload.
enum class SyntaxOp : std::uint8_t {
#define MATCALC_OP(E, S, F, A, C, R, D) MATCALC_SP_IF_SYNTAX(F, E)
#include "ir/ops.def"
#undef MATCALC_OP
};

namespace spelling_table {
inline constexpr Op kTextOwnOps[] = {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(T, Op::E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
inline constexpr Op kLatexOwnOps[] = {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(L, Op::E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
inline constexpr Op kPythonOwnOps[] = {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(N, Op::E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
inline constexpr Op kEigenOwnOps[] = {
#define MATCALC_SPELLING(E, T, L, N, P, G) MATCALC_SP_IF_OWN(G, Op::E)
#include "print/spellings.def"
#undef MATCALC_SPELLING
};
inline constexpr Op kSyntaxOps[] = {
#define MATCALC_OP(E, S, F, A, C, R, D) MATCALC_SP_IF_SYNTAX(F, Op::E)
#include "ir/ops.def"
#undef MATCALC_OP
};
inline constexpr auto kTextOwnIndex = index_of(kTextOwnOps);
inline constexpr auto kLatexOwnIndex = index_of(kLatexOwnOps);
inline constexpr auto kPythonOwnIndex = index_of(kPythonOwnOps);
inline constexpr auto kEigenOwnIndex = index_of(kEigenOwnOps);
inline constexpr auto kSyntaxIndex = index_of(kSyntaxOps);

template <class Enum>
constexpr std::optional<Enum> lookup(const std::array<int, kOpCount>& index, Op op) {
  int i = index[static_cast<int>(op)];
  if (i < 0) return std::nullopt;
  return static_cast<Enum>(i);
}
}  // namespace spelling_table

#undef MATCALC_SP_KEEP
#undef MATCALC_SP_DROP
#undef MATCALC_SP_OWN_Own
#undef MATCALC_SP_OWN_Fn
#undef MATCALC_SP_OWN_Method
#undef MATCALC_SP_OWN_Entrywise
#undef MATCALC_SP_IF_OWN
#undef MATCALC_SP_SYNTAX_Literal
#undef MATCALC_SP_SYNTAX_Infix
#undef MATCALC_SP_SYNTAX_Postfix
#undef MATCALC_SP_SYNTAX_Call
#undef MATCALC_SP_IF_SYNTAX

// The operator as one of the target's own (nullopt: print it from its column).
constexpr std::optional<TextOwn> text_own(Op op) {
  return spelling_table::lookup<TextOwn>(spelling_table::kTextOwnIndex, op);
}
constexpr std::optional<LatexOwn> latex_own(Op op) {
  return spelling_table::lookup<LatexOwn>(spelling_table::kLatexOwnIndex, op);
}
constexpr std::optional<PythonOwn> python_own(Op op) {
  return spelling_table::lookup<PythonOwn>(spelling_table::kPythonOwnIndex, op);
}
constexpr std::optional<EigenOwn> eigen_own(Op op) {
  return spelling_table::lookup<EigenOwn>(spelling_table::kEigenOwnIndex, op);
}
// The operator as one written with symbols (nullopt: a call).
constexpr std::optional<SyntaxOp> syntax_op(Op op) {
  return spelling_table::lookup<SyntaxOp>(spelling_table::kSyntaxIndex, op);
}

// The operator's column entries.
constexpr const spelling_table::Row& spellings_of(Op op) { return spelling_table::kRows[static_cast<int>(op)]; }

}  // namespace matcalc
