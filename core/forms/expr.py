"""A small safe expression language for computed fields and form rules.

Expressions look like Python arithmetic over field names::

    qty * price
    if_(amount > 10000, "大额", "普通")
    round(sum(items, "qty") * unit_price, 2)
    days(start_date, end_date) <= 30 and not urgent

They are checked when a definition is loaded (:func:`compile_expr`: syntax,
allowed constructs, known names and functions, length) so a definition with a
typo is refused up front, and evaluated with ``simpleeval`` under a strict
whitelist: arithmetic, comparisons, ``in``, ``and``/``or``/``not``,
``a if c else b`` and the functions in :data:`FUNCTIONS`. No attribute access,
subscripts, comprehensions, lambdas, f-strings or keyword arguments; powers,
strings and numbers are bounded. Nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator as op
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import simpleeval

MAX_LENGTH = 500  # characters of expression text
MAX_NODES = 200  # syntax tree nodes
MAX_TEXT = 10_000  # characters of any string an expression builds
MAX_INT_BITS = 256  # integers beyond ~1e77 are refused (keeps powers and products cheap)
MAX_EXPONENT = 100


class ExprError(ValueError):
    """A bad or failing expression; the message names the expression."""

    def __init__(self, zh: str, en: str, expr: str) -> None:
        super().__init__(f"{en}: {expr!r}")
        self.zh = f"表达式“{expr}”{zh}"
        self.en = f"expression '{expr}': {en}"
        self.expr = expr

    def as_msg(self) -> dict[str, str]:
        return {"message": self.zh, "message_en": self.en}


class _Fail(Exception):
    """Raised inside evaluation; becomes an ExprError naming the expression."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


# --------------------------------------------------------------------------- bounded operations


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _bounded(x: Any) -> Any:
    if isinstance(x, bool):
        return x
    if isinstance(x, int) and x.bit_length() > MAX_INT_BITS:
        raise _Fail("结果数值过大", "number too large")
    if isinstance(x, float) and not math.isfinite(x):
        raise _Fail("结果数值过大", "number too large")
    if isinstance(x, str) and len(x) > MAX_TEXT:
        raise _Fail("结果文本过长", "text too long")
    return x


def _arith(fn: Any) -> Any:
    def run(a: Any, b: Any) -> Any:
        if not (_num(a) and _num(b)):
            raise _Fail("只能对数字做算术运算", "arithmetic needs numbers")
        try:
            return _bounded(fn(a, b))
        except ZeroDivisionError:
            raise _Fail("除数为零", "division by zero") from None
        except OverflowError:
            raise _Fail("结果数值过大", "number too large") from None
    return run


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return _bounded(a + b)
    return _arith(op.add)(a, b)


def _pow(a: Any, b: Any) -> Any:
    if not (_num(a) and _num(b)):
        raise _Fail("只能对数字做算术运算", "arithmetic needs numbers")
    if abs(b) > MAX_EXPONENT or (a != 0 and abs(b) * math.log2(abs(a) + 1) > MAX_INT_BITS):
        raise _Fail("乘方结果过大", "power too large")
    try:
        return _bounded(a ** b)
    except (ZeroDivisionError, OverflowError):
        raise _Fail("乘方无法计算", "power cannot be computed") from None


def _compare(fn: Any) -> Any:
    def run(a: Any, b: Any) -> Any:
        try:
            return fn(a, b)
        except TypeError:
            raise _Fail("无法比较不同类型的值", "cannot compare values of different types") from None
    return run


def _contains(a: Any, b: Any) -> bool:
    if not isinstance(b, (str, list)):
        raise _Fail("“in”右侧应为文本或多选值", "the right of 'in' must be text or a multi-select value")
    if isinstance(b, str) and not isinstance(a, str):
        raise _Fail("“in”左侧应为文本", "the left of 'in' must be text")
    return a in b


def _neg(a: Any) -> Any:
    if not _num(a):
        raise _Fail("只能对数字取负", "only numbers can be negated")
    return -a


def _pos(a: Any) -> Any:
    if not _num(a):
        raise _Fail("只能对数字取正", "only numbers take a sign")
    return a


OPERATORS: dict[type, Any] = {
    ast.Add: _add, ast.Sub: _arith(op.sub), ast.Mult: _arith(op.mul), ast.Div: _arith(op.truediv),
    ast.FloorDiv: _arith(op.floordiv), ast.Mod: _arith(op.mod), ast.Pow: _pow,
    ast.Eq: op.eq, ast.NotEq: op.ne, ast.Gt: _compare(op.gt), ast.Lt: _compare(op.lt),
    ast.GtE: _compare(op.ge), ast.LtE: _compare(op.le),
    ast.In: _contains, ast.NotIn: lambda a, b: not _contains(a, b),
    ast.Not: op.not_, ast.USub: _neg, ast.UAdd: _pos,
}


# --------------------------------------------------------------------------- functions


def _round(x: Any, digits: Any = 0) -> Any:
    if not _num(x) or not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 10:
        raise _Fail("round 需要数字和0到10位小数", "round needs a number and 0 to 10 digits")
    return round(x, digits) if digits else int(round(x))


def _min_max(fn: Any, name: str) -> Any:
    def run(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not values or not all(_num(v) for v in values):
            raise _Fail(f"{name} 需要至少一个数字", f"{name} needs at least one number")
        return fn(values)
    return run


def _abs(x: Any) -> Any:
    if not _num(x):
        raise _Fail("abs 需要数字", "abs needs a number")
    return abs(x)


def _len(x: Any) -> int:
    if x is None:
        return 0
    if not isinstance(x, (str, list)):
        raise _Fail("len 需要文本或列表", "len needs text or a list")
    return len(x)


def _sum(values: Any, name: Any = None) -> Any:
    """``sum(group, "field")`` over a repeating group's rows (empty cells skipped), or ``sum(list)``."""
    if values is None:
        return 0
    if not isinstance(values, list):
        raise _Fail("sum 需要重复表格或数字列表", "sum needs a repeating group or a list of numbers")
    if name is not None:
        values = [row.get(name) for row in values if isinstance(row, dict)]
    total: Any = 0
    for v in values:
        if v is None:
            continue
        if not _num(v):
            raise _Fail("sum 只能累加数字", "sum adds numbers only")
        total = _bounded(total + v)
    return round(total, 10) if isinstance(total, float) else total


def _str(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "是" if x else "否"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    if isinstance(x, (int, float, str)):
        return _bounded(str(x))
    raise _Fail("str 只能转换数字和文本", "str converts numbers and text only")


def _concat(*args: Any) -> str:
    return _bounded("".join(_str(a) for a in args))


def _if(cond: Any, a: Any, b: Any) -> Any:
    return a if cond else b


def _date(x: Any) -> dt.date:
    if isinstance(x, str):
        try:
            if len(x) == 10:
                return dt.date.fromisoformat(x)
            return dt.datetime.fromisoformat(x.upper().replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise _Fail("需要日期（YYYY-MM-DD）", "needs a date (YYYY-MM-DD)")


def _days(start: Any, end: Any) -> int:
    """Whole days from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return (_date(end) - _date(start)).days


FUNCTIONS: dict[str, Any] = {
    "round": _round, "min": _min_max(min, "min"), "max": _min_max(max, "max"), "abs": _abs, "len": _len,
    "sum": _sum, "str": _str, "concat": _concat, "if_": _if, "days": _days,
}
_ARITY: dict[str, tuple[int, int]] = {"round": (1, 2), "min": (1, 50), "max": (1, 50), "abs": (1, 1),
                                      "len": (1, 1), "sum": (1, 2), "str": (1, 1), "concat": (1, 50),
                                      "if_": (3, 3), "days": (2, 2)}
CONSTANTS = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}

_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
                  ast.Name, ast.Constant, ast.Load, ast.And, ast.Or) + tuple(OPERATORS)


# --------------------------------------------------------------------------- compile / evaluate


@dataclass(frozen=True)
class Expr:
    """A checked expression; :meth:`evaluate` runs it over a record's field values."""

    text: str
    tree: ast.AST = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        """The value over ``data`` (missing fields are ``None``); raises :class:`ExprError`."""
        names = dict(CONSTANTS)
        for n in self.names:
            names[n] = data.get(n) if isinstance(data, Mapping) else None
        ev = simpleeval.SimpleEval(operators=OPERATORS, functions=FUNCTIONS, names=names)
        ev.nodes = {k: v for k, v in ev.nodes.items()
                    if k in (ast.Name, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
                             ast.Constant, ast.Expr)}
        try:
            return _bounded(ev.eval(self.text, previously_parsed=self.tree))
        except _Fail as exc:
            raise ExprError(exc.zh, exc.en, self.text) from None
        except ExprError:
            raise
        except (simpleeval.InvalidExpression, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            raise ExprError("无法计算", f"cannot be evaluated ({type(exc).__name__})", self.text) from None


def compile_expr(text: Any, fields: Collection[str] | Mapping[str, Any] = ()) -> Expr:
    """Check ``text`` against the allowed constructs and the known field names.

    ``fields`` is a collection of field names, or a mapping of field name to
    the sub-field names of a repeating group (``None`` for a plain field), so
    ``sum(items, "qty")`` is checked too. Raises :class:`ExprError`.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExprError("为空", "is empty", str(text or ""))
    if len(text) > MAX_LENGTH:
        raise ExprError(f"过长（最多{MAX_LENGTH}个字符）", f"is too long (at most {MAX_LENGTH} characters)",
                        text[:40] + "…")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExprError("语法错误", "has a syntax error", text) from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExprError("过于复杂", "is too complex", text)
    known = set(fields)
    groups = fields if isinstance(fields, Mapping) else {}
    used: set[str] = set()
    for node in nodes:
        if not isinstance(node, _ALLOWED_NODES):
            raise ExprError(f"含有不允许的写法（{_construct(node)}）",
                            f"uses a construct that is not allowed ({type(node).__name__})", text)
    for node in nodes:
        if isinstance(node, ast.Constant) and not (node.value is None or isinstance(node.value, (bool, int, float, str))):
            raise ExprError("含有不允许的常量", "has a constant that is not allowed", text)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > MAX_TEXT:
            raise ExprError("文本过长", "has too long a text", text)
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname not in FUNCTIONS:
                raise ExprError(f"使用了未知函数“{fname or '?'}”", f"calls an unknown function '{fname or '?'}'", text)
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise ExprError("函数不接受命名参数", "functions take no keyword arguments", text)
            lo, hi = _ARITY[fname]
            if not lo <= len(node.args) <= hi:
                raise ExprError(f"函数 {fname} 的参数个数不对", f"wrong number of arguments to {fname}", text)
            if fname == "sum" and len(node.args) == 2:
                _check_sum(node, groups, text)
        elif isinstance(node, ast.Name):
            parent_call = any(isinstance(c, ast.Call) and c.func is node for c in nodes)
            if parent_call or node.id in CONSTANTS:
                continue
            if node.id not in known:
                raise ExprError(f"引用了不存在的字段“{node.id}”", f"refers to an unknown field '{node.id}'", text)
            used.add(node.id)
    return Expr(text=text.strip(), tree=tree.body, names=frozenset(used))


def _check_sum(node: ast.Call, groups: Mapping[str, Any], text: str) -> None:
    group, name = node.args
    if not isinstance(name, ast.Constant) or not isinstance(name.value, str):
        raise ExprError("sum 的第二个参数应为子字段名（文本）", "the second argument of sum must be a field name", text)
    if isinstance(group, ast.Name) and group.id in groups:
        subs = groups[group.id]
        if subs is not None and name.value not in subs:
            raise ExprError(f"引用了重复表格“{group.id}”中不存在的字段“{name.value}”",
                            f"refers to an unknown field '{name.value}' of group '{group.id}'", text)


def _construct(node: ast.AST) -> str:
    return {"Attribute": "属性访问", "Subscript": "下标", "ListComp": "推导式", "GeneratorExp": "推导式",
            "SetComp": "推导式", "DictComp": "推导式", "Lambda": "lambda", "JoinedStr": "格式化字符串",
            "NamedExpr": "赋值", "List": "列表", "Tuple": "元组", "Dict": "字典", "Set": "集合",
            "BitOr": "位运算", "BitAnd": "位运算", "BitXor": "位运算", "LShift": "位运算", "RShift": "位运算",
            "Invert": "位运算", "keyword": "命名参数", "Is": "is", "IsNot": "is not", "Await": "await", "Starred": "*"}.get(
        type(node).__name__, type(node).__name__)
