"""MATH answer-equivalence cases, one table per class: (response, gold, right verdict).

Written from the MATH answer conventions (Hendrycks et al. 2021: exact answers, `\\boxed{}`,
fractions in lowest terms, intervals, `\\begin{pmatrix}` vectors, degrees, units in `\\text{}`)
and math-verify's documented behaviour (decimals at 6 places, percentages, relations, sets
against tuples). The response is what a model wrote, the gold is MATH's `answer` field. Shared by
tests/test_grading_math.py and the agreement count in scripts/bench_grading.py.
"""

from __future__ import annotations

EXTRACTION = [   # where the final answer is
    ("so $x=\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", True),
    ("$\\boxed{\\frac{\\sqrt{3}}{2}}$", "\\frac{\\sqrt3}{2}", True),                   # nested braces
    ("The value is \\fbox{7}.", "7", True),
    ("so the sum is $\\boxed 5$.", "5", True),
    ("The integers are \\boxed{-2} and \\boxed{1}.", "1,-2", True),                      # several boxes
    ("First guess $\\boxed{3}$, but that fails. Correcting: $\\boxed{4}$.", "4", True),   # the last one
    ("Thus there are $\\boxed{24}$ ways. The answer is: 24", "24", True),                 # the SFT format
    ("The answer is $\\frac{3}{4}$.", "\\frac34", True),
    ("Final Answer: The final answer is $(1,2]$. I hope it is correct.", "(1,2]", True),
    ("Final Answer: The largest $n$ is 34.", "34", True),
    ("**Final Answer**\n\\boxed{189}\n</think>\nThe area is 189 square cm.", "189", True),
    ("Answer \\[ 9 \\]", "9", True),
    ("Answer $$ 9 $$", "9", True),
    ("Answer \\[\n9\n\\]", "9", True),
    ("Answer $ 9 $", "9", True),
    ("Answer \\( 9 \\)", "9", True),
    ("Answer \\( (9+1) \\)", "10", True),
    ("Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", "\\frac{10}{9}", True),               # `\$` inside math
    ("We get \\[x = \\frac{5}{3}.\\] So that is it.", "\\frac53", True),                 # last display math
    ("$[0,1)$", "[0,1)", True),                                                           # bare answers
    ("10/9", "\\frac{10}{9}", True),
    ("x = 3", "3", True),
    ("Evelyn", "\\text{Evelyn}", True),
    ("Steps...\nSo the probability is\n2/3", "\\frac23", True),                          # bare last line
    ("There are 12 sequences. I hope it is correct. <|im_start|>user\nNew question 5", "12", True),
    ("So the minimum error increases by 100%.", "100\\%", True),                          # last number
    ("The ordered pair that solves the system is $(7, 6)$.", "(7,6)", True),
    ("We have $2^{10}.$", "2", False),                                                    # not the 2 of 2^10
    ("The answer is $(0, 1)$. I hope it is correct.", "[0,1)", False),
    ("no answer here", "3", False),
    ("So we need $x$ to satisfy\n$$x + 1 =", "3", False),                                 # cut off mid-way
    ("The answer is 5.\nQuestion: what is 2+2?\nAnswer: 4", "5", True),                  # a new question
]

FRACTIONS = [
    ("\\frac{10}{9}", "10/9", True),
    ("-\\frac{10}{9}", "-10/9", True),
    ("\\frac{-10}{9}", "-\\frac{10}{9}", True),
    ("\\dfrac{3}{56}", "\\frac{3}{56}", True),
    ("\\tfrac{1}{3}", "\\frac13", True),
    ("\\cfrac{1}{3}", "1/3", True),
    ("\\frac{20}{18}", "\\frac{10}{9}", True),      # not in lowest terms, same value
    ("\\frac{9}{10}", "\\frac{10}{9}", False),
    ("\\frac{1}{12}", "\\frac{1}{13}", False),
    ("\\frac{3}{2}", "1.5", True),
    ("0.0833333333", "\\frac{1}{12}", True),        # a float-length decimal of 1/12
    ("0.333333", "\\frac{1}{3}", True),
    ("0.33", "\\frac{1}{3}", False),                # MATH asks for the exact value
    ("0.3", "\\frac13", False),
    ("0.\\overline{4}", "\\frac49", True),          # a repeating decimal is exact
    ("0.1\\overline{6}", "\\frac{1}{6}", True),
    ("3:4", "\\frac34", True),                      # a ratio is its quotient
    ("3:4", "3:1", False),
]

MIXED_NUMBERS = [
    ("2\\frac{1}{2}", "\\frac{5}{2}", True),
    ("\\frac52", "2\\frac{1}{2}", True),
    ("-1\\frac{3}{4}", "-\\frac{7}{4}", True),
    ("2\\frac{1}{2}", "\\frac{1}{2}", False),
    ("1\\frac{1}{3}", "1\\frac{1}{2}", False),
]

DECIMALS = [
    ("1,000.99", "1000.99", True),
    ("1 000", "1000", True),
    (".4", "0.4", True),
    ("1000.0", "1000", True),
    ("7,425,000", "7425000", True),
    ("10,\\!000", "10000", True),
    ("14{,}916", "14916", True),
    ("\\$16,\\!386.20", "\\$16,\\!386.20", True),
    ("16386.2", "16,\\!386.20", True),
    ("0.50", "0.5", True),
    ("-5", "-5", True),
    ("1000.1", "1000", False),
    ("32, 349", "32349", False),                    # a comma then a space separates a list
    ("16386.17", "16386.20", False),
    ("1.36", "1.36", True),
]

PERCENTS = [
    ("28\\%", "28", True),
    ("28", "28\\%", True),
    ("28 percent", "28\\%", True),
    ("28 %", "28\\%", True),
    ("0.28", "28\\%", True),
    ("28\\%", "0.28", True),
    ("\\frac{1}{2}", "50\\%", True),
    ("28", "0.28", False),
    ("\\frac{28}{100}", "28", False),
    ("29\\%", "28\\%", False),
]

DEGREES_AND_UNITS = [
    ("90^\\circ", "90", True),
    ("90^{\\circ}", "90^\\circ", True),
    ("90°", "90", True),
    ("45^\\circ", "90^\\circ", False),
    ("15\\text{ cm}^2", "15", True),
    ("15\\mbox{ cm}^2", "15\\mbox{ cm}^2", True),
    ("125\\textnormal{ miles}", "125", True),
    ("5 \\text{ cm}", "5", True),
    ("10 inches", "10", True),
    ("4 square units", "4", True),
    ("\\frac{1}{3} \\text{meters}", "\\frac13", True),
    ("\\$42", "42", True),
    ("6 \\text{ cm}", "5", False),
    ("\\frac{\\pi}{2}", "90^\\circ", False),        # radians are not the degrees asked for
    ("40 min", "40", True),
    ("250 cm2", "250", True),
    ("(30^\\circ, 60^\\circ)", "(30,60)", True),
]

RELATIONS = [
    ("x = 3", "3", True),
    ("3", "x = 3", True),
    ("k=\\frac{1}{3}", "\\frac13", True),
    ("x = 5+5+1 = 7 = 11", "11", True),             # the last side of a chain
    ("x \\approx 11", "11", True),
    ("b = -6", "6", False),
    ("11a+c", "7 = 11a+c", False),                  # a gold equation is never cut down
    ("1", "2x+z=1", False),
    ("y = 2x + 3", "y=2x+3", True),
    ("y=2x+3", "2x+3", True),
    ("x \\geq 5", "x \\ge 5", True),
    ("5 \\geq x", "x \\leq 5", True),
    ("x < 5", "x > 5", False),
    ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", True),
]

INTERVALS = [
    ("[0,1)", "[0,1)", True),
    ("\\left[ 0, 1 \\right)", "[0,1)", True),
    ("(0,1)", "[0,1]", False),
    ("[0,1)", "[0,9)", False),
    ("(0,9)", "[0,9)", False),
    ("(-\\infty, 3) \\cup (3, \\infty)", "(-\\infty,3)\\cup(3,\\infty)", True),
    ("[-\\tfrac12, 0) \\cup (0, 1]", "[-\\frac{1}{2},0)\\cup(0,1]", True),
    ("(-\\infty, 0]", "(-\\infty, 0)", False),
    ("(-\\infty, -3] \\cup [2, \\infty)", "[-3,2]", False),
    ("x \\in [-2,7]", "[-2,7]", True),
    ("[2, 5)", "[2, 5)", True),
    ("(\\frac{3}{5}, \\frac{8}{3}]", "\\left(\\frac35, \\frac83\\right]", True),
    ("\\{-1\\} \\cup [0,7)", "\\{-1\\}\\cup[0,7)", True),
    ("(-\\infty,-2)\\cup(-2,\\infty)", "(-\\infty,-2)\\cup(-2,0)\\cup[0,\\infty)", True),   # the same set, cut differently
    ("(-\\infty,1]\\cup[1,3)", "(-\\infty,3)", True),
    ("[1,2]\\cup[3,4]", "[1,4]", False),
    ("(-\\infty,-2)\\cup(-2,0)\\cup(0,2)\\cup(2,\\infty)", "(-\\infty,-8)\\cup(-8,-2)\\cup(-2,\\infty)", False),
]

SETS = [
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("-2,1", "1,-2", True),
    ("1, -2", "\\{-2, 1\\}", True),
    ("\\{1,2\\}", "\\{1,3\\}", False),
    ("1,2,3", "1,2", False),
    ("12\\text{ and }13", "12, 13", True),
    ("12 and 13", "13, 12", True),
    ("\\{1\\pm\\sqrt{5},-2\\}", "\\{1+\\sqrt{5}, 1-\\sqrt{5}, -2\\}", True),
    ("1 \\pm \\sqrt{19}", "1\\pm\\sqrt{19}", True),
    ("\\frac{1}{2}, 3", "3, 0.5", True),
]

TUPLES = [
    ("(1,2)", "(2,1)", False),
    ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("(1, 4.5)", "(1,\\frac92)", True),
    ("(6,31,-1)", "(6, 31, -1)", True),
    ("(6,-1,31)", "(6,31,-1)", False),
    ("(1,2,3)", "(1,2)", False),
    ("(-6, 10)", "(-6,10)", True),
    ("\\left( \\frac{4}{3}, -\\frac{1}{3} \\right)", "\\left(\\frac43,-\\frac13\\right)", True),
    ("(0, 0)", "(\\tfrac{27}{8},\\tfrac{15}{8})", False),
]

MATRICES = [
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}", True),
    ("\\begin{pmatrix}0 & 0 \\\\0 & 0\\end{pmatrix}", "\\begin{bmatrix}0 & 0 \\\\0 & 0\\end{bmatrix}", True),
    ("\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]", "\\begin{pmatrix}1 & 2 \\\\3 & 4\\end{pmatrix}", True),
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", False),
    ("\\begin{pmatrix} 0.5 \\\\ 0.25 \\end{pmatrix}", "\\begin{pmatrix} \\frac12 \\\\ \\frac14 \\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\\\ 3 \\end{pmatrix}", False),
    ("\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", False),
    ("\\begin{pmatrix} -\\frac{7}{4} & -2 \\\\ 4 & \\frac{1}{4} \\end{pmatrix}",
     "\\begin{pmatrix}-\\frac74&-2\\\\4&\\frac14\\end{pmatrix}", True),
]

ROOTS_AND_PI = [
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\sqrt 2+\\sqrt 5", "\\sqrt{2}+\\sqrt{5}", True),
    ("3\\sqrt{13}", "\\sqrt{117}", True),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
    ("\\frac{5\\sqrt{42}}{27}", "\\frac{10\\sqrt{10.5}}{27}", True),
    ("\\sqrt[3]{8}", "2", True),
    ("\\sqrt{3}", "3", False),
    ("4\\sqrt{2}", "4", False),
    ("\\frac{1+\\sqrt{5}}{2}", "2", False),
    ("\\sqrt{2}", "1.414", False),                   # not the exact value
    ("1.41421356", "\\sqrt{2}", True),               # ... but this agrees to 6 places
    ("\\frac{9}{4}\\pi", "\\frac{9\\pi}{4}", True),
    ("\\frac94\\pi", "\\frac{9}{4}\\pi", True),
    ("2\\pi", "6.28", False),
    ("\\pi", "3.14", False),
    ("36\\pi", "36 \\pi", True),
    ("18\\pi", "36\\pi", False),
    ("\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}", "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}", True),
    ("\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}", "4", False),
]

SYMBOLIC = [
    ("x^2+2x+1", "(x+1)^2", True),
    ("2 \\sin b \\cos a", "2\\cos a\\sin b", True),
    ("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", True),
    ("x+1", "x+2n+1", False),
    ("2-2p", "-2p+2", True),
    ("2+2p", "2-2p", False),
    ("a^2 - b^2", "(a-b)(a+b)", True),
    ("x^2", "y^2", False),
    ("\\frac{\\pi r}{h+r}", "\\frac{\\pi r}{r+h}", True),
    ("\\sec^2 y", "\\tan^2 y+1", True),
    ("(a+5)(b+2)", "(+5)(b+2)", False),
    ("3y", "108", False),                            # a variable is not a number
    ("x(x+1)", "x^2+x", True),
    ("\\sqrt{x^2}", "x", False),                      # |x|, not x
    ("19x^3+76x", "19x(x^2+4)", True),
    ("7x^5+12x^2+10x+2", "7x^5+12x^2+3x+9", False),
    ("\\log_3 27", "3", True),
    ("\\log 100", "2", True),                        # \log is base 10
    ("x_1+x_2", "x_2+x_1", True),
    ("\\theta+1", "1+\\theta", True),
]

COMPLEX = [   # i is the imaginary unit
    ("1+2i", "2i+1", True),
    ("i^2", "-1", True),
    ("\\frac{2}{3i}", "-\\frac{2}{3}i", True),
    ("5i", "-1+12i", False),
    ("3-i", "3+i", False),
]

TEXT_AND_CHOICES = [
    ("\\text{Evelyn}", "\\text{Evelyn}", True),
    ("Evelyn", "\\text{Evelyn}", True),
    ("\\text{(C)}", "C", True),
    ("(C)", "\\text{(C)}", True),
    ("E", "\\text{E}", True),
    ("B", "C", False),
    ("\\text{Monday}", "\\text{Tuesday}", False),
    ("\\text{odd}", "\\text{Odd}", True),
    ("204_5", "204_5", True),
    ("204_{5}", "204_5", True),
    ("1112122_3", "1112112_3", False),
    ("\\text{Infinite}", "72", False),
    ("\\text{even}", "\\text{Even}", True),
    ("\\text{neither}", "\\frac{1}{2}", False),
    ("\\boxed{\\text{(C)}}", "\\text{C}", True),
    ("The answer is (C).", "\\text{(C)}", True),
    ("\\boxed{\\textbf{(C)}}", "C", True),
    ("\\boxed{(c)}", "\\text{(C)}", True),
    ("\\boxed{\\text{(D)}}", "\\text{(C)}", False),
    ("\\boxed{\\text{C)}}", "\\text{(C)}", True),
    ("The answer is $C)$.", "\\text{C}", True),
    ("\\boxed{D)}", "\\text{(C)}", False),
]

# The kinds a held-out peer suite found robust missing (issue 19), and their neighbours.
DECIMAL_COMMAS = [   # a comma before one or two digits: a decimal comma, in MATH against a gold that is one number
    ("The answer is 1000,99", "1000.99", True),
    ("The total is 2,74 $.", "2.74", True),
    ("\\boxed{2,74 \\$}", "2.74", True),
    ("\\boxed{1,5}", "1.5", True),
    ("So the answer is 1,25.", "\\frac54", True),
    ("The answer is 1000,99", "100099", False),
    ("\\boxed{1,5}", "15", False),
    ("\\boxed{1,5}", "1,5", True),                  # a list against a list
    ("\\boxed{-2,1}", "1,-2", True),
    ("\\boxed{1,000}", "1000", True),               # groups of three: thousands
    ("\\boxed{1,000}", "1", False),
]

_MATRIX = "\\begin{pmatrix}\n1 & 2 \\\\\n3 & 4\n\\end{pmatrix}"
_MATRIX_GOLD = "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"
BOXES_ACROSS_LINES = [   # a matrix in a box over several lines, with environment ends around it
    (f"\\begin{{align*}}\nM &= \\boxed{{{_MATRIX}\n\\end{{align*}}", _MATRIX_GOLD, True),   # box left open
    (f"\\[\n\\boxed{{\n{_MATRIX}\n\\]", _MATRIX_GOLD, True),
    (f"\\boxed{{{_MATRIX}\n\\end{{align*}}}}", _MATRIX_GOLD, True),                           # closed after the end
    (f"\\begin{{align*}}\nM &= \\boxed{{{_MATRIX}}} \\\\\n\\end{{align*}}\n\\end{{document}}", _MATRIX_GOLD, True),
    (f"Hence\n\\begin{{align*}}\nM &= {_MATRIX} \\\\\n\\end{{align*}}", _MATRIX_GOLD, True),     # no box at all
    (f"\\begin{{align*}}\nM &= \\boxed{{{_MATRIX.replace('4', '5')}\n\\end{{align*}}", _MATRIX_GOLD, False),
]

SEVERAL_BOXES = [   # boxes that state one answer together; assigned in turn, a tuple
    ("$x = \\boxed{3}$, $y = \\boxed{4}$", "(3,4)", True),
    ("We get $x = \\boxed{4}$ and $y = \\boxed{3}$.", "(3,4)", False),
    ("We get $x = \\boxed{1}$ and $y = \\boxed{1}$.", "(1,1)", True),
    ("$a = \\boxed{2}$, $b = \\boxed{-1}$, $c = \\boxed{2}$", "(2,-1,2)", True),
    ("The roots are \\boxed{3} and \\boxed{4}.", "3, 4", True),
]

CHAINS = [   # the last side of a chain of equalities is the answer
    ("\\boxed{x = 5+5+1 = 1/3}", "\\frac13", True),
    ("The answer is $x = 5 + 5 + 1 = 11$.", "11", True),
    ("The answer is $x = 5+5+1 = 1/3$.", "11", False),
    ("Therefore x = 5+5+1 = 1/3.", "\\frac13", True),
    ("\\boxed{3! \\times 5! = \\frac{1440}{2}}", "720", True),     # `5!=` is a factorial, then =
    ("So $a + b + c - 15 = 49 - 15 = \\text{34}.$", "34", True),    # `\text{34}` is not a unit
    ("\\boxed{f(3) = 5+5+1 = 11}", "11", True),
    ("$$x \\approx 5+5+1 = 11$$", "11", True),
]

UNBOXED_SOLUTIONS = [   # long worked solutions whose answer is their last math, not boxed
    ("We have $r = \\sqrt{0^2 + 3^2} = 3.$  The angle is $\\frac{\\pi}{2}$.\n\n"
     "Therefore, the polar coordinates are $\\left( 3, \\frac{\\pi}{2} \\right).$", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("The rational roots are of the form $\\frac{a}{b}.$\nThus, the possible rational roots are\n"
     "\\[\\pm 1, \\ \\pm \\frac{1}{2}.\\]Thus, there are $\\frac{8}{2}$ possible rational roots.", "4", True),
    ("The divisors are listed below.\nHence, $x$ can be $1, 2, 3$ for a total of $\\text{6}$ possible values of $x.$",
     "6", True),
    ("From the given information, $7 = 14 \\sin \\theta.$\nThus, the smallest possible value of $\\theta$ is $30°.$",
     "30^\\circ", True),
    ("By Vieta's formulas, $a + b + c = 49.$\n\nThe roots of $g$ are $a - 5,$ $b - 5,$ and $c - 5,$ and their sum is "
     "$a + b + c - 15 = 49 - 15 = \\text{34}.$", "34", True),
    ("So\n\\[\\frac{p(3)}{p(4)} = \\frac{-10A}{-11A} = \\frac{10}{11}.\\]", "\\frac{10}{11}", True),
    ("By Vieta's formulas, $a + b + c = 49.$\n\nThe roots of $g$ are $a - 5,$ $b - 5,$ and $c - 5,$ and their sum is "
     "$a + b + c - 15 = 49 - 15 = 34.$", "35", False),
]

CLASSES = {
    "extraction": EXTRACTION, "fractions": FRACTIONS, "mixed numbers": MIXED_NUMBERS,
    "decimals and separators": DECIMALS, "percents": PERCENTS, "degrees and units": DEGREES_AND_UNITS,
    "relations": RELATIONS, "intervals": INTERVALS, "sets": SETS, "tuples": TUPLES, "matrices": MATRICES,
    "roots and pi": ROOTS_AND_PI, "symbolic": SYMBOLIC, "complex": COMPLEX, "text and choices": TEXT_AND_CHOICES,
    "decimal commas": DECIMAL_COMMAS, "boxes across lines": BOXES_ACROSS_LINES, "several boxes": SEVERAL_BOXES,
    "chained relations": CHAINS, "unboxed solutions": UNBOXED_SOLUTIONS,
}
# Classes whose responses are whole responses (extraction matters), not bare answers.
RESPONSE_CLASSES = ("extraction", "decimal commas", "boxes across lines", "several boxes", "chained relations",
                    "unboxed solutions")
ROWS = [(name, *row) for name, rows in CLASSES.items() for row in rows]
