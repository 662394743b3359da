"""``calculator``: arithmetic, evaluated from the syntax tree, never as code.

The expression is parsed with ``ast`` and only numbers, ``+ - * / // % **``, parentheses and a
whitelist of ``math`` functions and constants are evaluated. Names, attributes, subscripts,
strings, comprehensions and every other node are refused before anything runs. Sizes are bounded
so that no input can take long: the expression's length, its nesting depth, the bits of every
integer (checked before a power or a factorial is computed), the number of a call's arguments.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from difychat.server.tools.base import (
    TextOutput,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolParameter,
)
from difychat.server.tools.builtin.provider import BuiltinDefinition, BuiltinTool, Credentials, spec

PROVIDER = "calculator"
MAX_LENGTH = 1000
MAX_DEPTH = 100
MAX_BITS = 4096  # about 1,200 decimal digits
MAX_FACTORIAL = 450  # 450! has about 3,800 bits
MAX_ARGUMENTS = 32

Number = int | float


class CalculationError(ToolError):
    pass


def _bounded(value: Number) -> Number:
    if isinstance(value, int):
        if value.bit_length() > MAX_BITS:
            raise CalculationError(f"the result has more than {MAX_BITS} bits")
        return value
    if not math.isfinite(value):
        raise CalculationError("the result is not a finite number")
    return value


def _power(base: Number, exponent: Number) -> Number:
    # |base| ** exponent has about exponent * log2(|base|) bits: refuse before computing it.
    growing = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if growing and (exponent > MAX_BITS or (abs(int(base)).bit_length() - 1) * exponent > MAX_BITS):
        raise CalculationError(f"the result has more than {MAX_BITS} bits")
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        result: int = base**exponent
        return result
    return math.pow(float(base), float(exponent))


def _factorial(value: Number) -> Number:
    if isinstance(value, float):
        if not value.is_integer():
            raise CalculationError("factorial() takes a whole number")
        value = int(value)
    if value > MAX_FACTORIAL:
        raise CalculationError(f"factorial() takes numbers up to {MAX_FACTORIAL}")
    return math.factorial(value)


def _round(value: Number, digits: Number = 0) -> Number:
    if not isinstance(digits, int) or abs(digits) > 100:
        raise CalculationError("round() takes a whole number of digits between -100 and 100")
    return round(value, digits) if digits else round(value)


def _integers(name: str, function: Callable[..., int]) -> Callable[..., Number]:
    def checked(*args: Number) -> Number:
        if not all(isinstance(a, int) for a in args):
            raise CalculationError(f"{name}() takes whole numbers")
        return function(*args)

    return checked


def _log(value: Number, base: Number | None = None) -> Number:
    return math.log(value) if base is None else math.log(value, base)


_BINARY: Mapping[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: Mapping[type[ast.unaryop], Callable[[Any], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
CONSTANTS: Mapping[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
FUNCTIONS: Mapping[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "cbrt": math.cbrt,
    "exp": math.exp,
    "log": _log,
    "log10": math.log10,
    "log2": math.log2,
    "pow": _power,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "hypot": math.hypot,
    "degrees": math.degrees,
    "radians": math.radians,
    "floor": math.floor,
    "ceil": math.ceil,
    "trunc": math.trunc,
    "factorial": _factorial,
    "gcd": _integers("gcd", math.gcd),
    "lcm": _integers("lcm", math.lcm),
}
# Common ways people write operators that Python spells otherwise.
_SPELLINGS = str.maketrans({"^": "**", "×": "*", "÷": "/", "−": "-"})


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; raises CalculationError for anything else."""
    text = expression.strip()
    if not text:
        raise CalculationError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise CalculationError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.translate(_SPELLINGS), mode="eval")
    except SyntaxError as exc:
        raise CalculationError(f"the expression is not valid: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise CalculationError("the expression is not valid") from None
    return _bounded(_eval(tree.body, 0))


def _eval(node: ast.expr, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalculationError(f"the expression is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculationError(f"{value!r} is not a number")
        return _bounded(value)
    if isinstance(node, ast.Name):
        if node.id not in CONSTANTS:
            raise CalculationError(f"unknown name {node.id!r} (constants: {', '.join(CONSTANTS)})")
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        # ``1 + 2 + ... + 400`` nests on the left: walk that spine in a loop, so a long sum is
        # not mistaken for deep nesting.
        spine: list[ast.BinOp] = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp) and type(left.op) in _BINARY:
            spine.append(left)
            left = left.left
        value = _eval(left, depth + 1)
        for step in reversed(spine):
            value = _apply(_BINARY[type(step.op)], value, _eval(step.right, depth + 1))
        return value
    if isinstance(node, ast.Call):
        return _call(node, depth)
    raise CalculationError(f"{_describe(node)} is not allowed in an arithmetic expression")


def _call(node: ast.Call, depth: int) -> Number:
    if not isinstance(node.func, ast.Name):
        raise CalculationError(f"{_describe(node.func)} is not allowed in an arithmetic expression")
    if node.func.id not in FUNCTIONS:
        raise CalculationError(f"unknown function {node.func.id!r}")
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise CalculationError("functions take plain positional arguments")
    if len(node.args) > MAX_ARGUMENTS:
        raise CalculationError(f"functions take at most {MAX_ARGUMENTS} arguments")
    args = [_eval(a, depth + 1) for a in node.args]
    return _apply(FUNCTIONS[node.func.id], *args)


def _apply(function: Callable[..., Number], *args: Number) -> Number:
    try:
        return _bounded(function(*args))
    except CalculationError:
        raise
    except ZeroDivisionError:
        raise CalculationError("division by zero") from None
    except OverflowError:
        raise CalculationError("the result is too large") from None
    except (ValueError, TypeError) as exc:
        raise CalculationError(str(exc) or "the arguments are not valid") from None


def _describe(node: ast.AST) -> str:
    return {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Lambda: "a lambda",
    }.get(type(node), type(node).__name__)


def format_number(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return format(value, ".15g")


async def _calculate(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    expression = arguments.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise CalculationError("an expression is required")
    return [TextOutput(format_number(evaluate(expression)))]


SPECS = (
    spec(
        PROVIDER,
        "calculator",
        "Evaluate an arithmetic expression exactly: numbers, + - * / // % ** (or ^), parentheses, "
        f"the constants {', '.join(CONSTANTS)} and the functions {', '.join(FUNCTIONS)}.",
        [ToolParameter("expression", required=True, description="the expression, e.g. (2 + 3) * sqrt(16)")],
        "Calculator",
        zh_Hans="计算器",
        pt_BR="Calculadora",
        ja_JP="電卓",
    ),
)


def _make(credentials: Credentials) -> list[BuiltinTool]:
    return [BuiltinTool(SPECS[0], _calculate)]


DEFINITION = BuiltinDefinition(PROVIDER, SPECS[0].labels, SPECS, _make)
