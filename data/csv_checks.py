"""Pre-flight checks on a dataset's CSV files, in seconds, before any component runs.

One streaming pass with the csv module over every file (memory stays flat at any size).
What would otherwise train on the wrong data or fail minutes later inside a component
ends here, in one line that names the file, the column and the fix: duplicate or
byte-order-marked column names, undecodable text, files without rows, headers that
differ between files, rows with the wrong number of fields, a label that cannot be
learned, and "NaN"/"inf" strings in numeric columns.
"""
from __future__ import annotations

import codecs
import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Collection, Dict, Iterator, List, Optional, Sequence, Tuple

# Past this many distinct label values nobody means classification; counting stops
# there too, so a regression label of a million rows costs no memory.
MAX_CLASSES = 1000
# A number the CSV decoder turns into a non-finite float (it accepts any case and sign).
NONFINITE = re.compile(r"\s*[+-]?(nan|inf|infinity)\s*", re.IGNORECASE)
# A file without these bytes (any case) has no NaN/inf value; only others are checked field by field.
_NONFINITE_MARKS = (b"nan", b"inf")
# A number written with a decimal comma, as spreadsheets in many countries save it.
DECIMAL_COMMA = re.compile(r"\s*[+-]?\d+,\d+\s*")
_OTHER_DELIMITERS = ((";", "semicolons (';')"), ("\t", "tabs"), ("|", "vertical bars ('|')"))
_BOMS = ((codecs.BOM_UTF8, "UTF-8"), (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


class DataError(ValueError):
    """The data cannot be used as it is; the message names the file, the column and the fix."""


@dataclass(frozen=True)
class Fixes:
    """How a message says to change the label or the task: in dataset.yaml, or (data.init) with a flag."""

    label: str
    task: str  # how the task is chosen, formatted with the task's name


DATASET_YAML = Fixes(label="set 'label' in dataset.yaml", task="task: {}")
COMMAND_LINE = Fixes(label="set --label", task="--task {}")


@dataclass(frozen=True)
class Where:
    """The first place a value was seen: file, line and the text itself."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.text!r})"


def as_number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass
class LabelProfile:
    """What the label column holds, counted over every file."""

    column: str
    rows: int = 0
    missing: int = 0
    counts: Counter = field(default_factory=Counter)  # value -> rows, up to MAX_CLASSES values
    too_many: bool = False  # more than MAX_CLASSES distinct values
    non_numeric: Optional[Where] = None  # the first value that is not a number
    non_finite: Optional[Where] = None
    fractional: bool = False  # some value is a number but not an integer

    @property
    def labelled(self) -> int:
        return self.rows - self.missing

    @property
    def numeric(self) -> bool:
        return self.labelled > 0 and self.non_numeric is None

    def add(self, text: str, path: str, line: int) -> None:
        """One row's label value; numbers are checked once per distinct value while they are counted."""
        self.rows += 1
        if text == "":
            self.missing += 1
            return
        if not self.too_many:
            seen = self.counts.get(text)
            if seen is not None:
                self.counts[text] = seen + 1
                return
            if len(self.counts) < MAX_CLASSES:
                self.counts[text] = 1
            else:
                self.too_many = True
        self._check_number(text, path, line)

    def _check_number(self, text: str, path: str, line: int) -> None:
        if self.non_numeric is not None:
            return
        number = as_number(text)
        if number is None:
            self.non_numeric = Where(path, line, text)
        elif not math.isfinite(number):
            self.non_finite = self.non_finite or Where(path, line, text)
        elif not number.is_integer():
            self.fractional = True


@dataclass
class DataProfile:
    files: Tuple[str, ...]
    columns: Tuple[str, ...]
    rows: int
    label: LabelProfile
    non_finite: Dict[str, Where]  # numeric column -> its first "NaN"/"inf" value
    labelled_in: Dict[str, int] = field(default_factory=dict)  # file -> rows with a label


def _read_header(path: str, bom_allowed: bool = False) -> List[str]:
    with open(path, "rb") as f:
        start = f.read(4)
    for bom, encoding in _BOMS:
        if start.startswith(bom):
            if encoding != "UTF-8":
                raise DataError(f"{path} is {encoding} text: save it as UTF-8")
            if not bom_allowed:
                raise DataError(
                    f"{path} starts with a UTF-8 byte-order mark, an invisible character that would become part "
                    f"of the first column's name: save it as UTF-8 without BOM "
                    f"(e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' {path})")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = f.readline()
    except UnicodeDecodeError:
        raise encoding_error(path) from None
    try:
        header = next(csv.reader([first]), None)
    except csv.Error as e:
        raise DataError(f"{path}: the header is not valid CSV ({e})") from None
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path} is empty: a CSV file needs a header row with the column names, then the rows")
    _check_delimiter(path, first, header)
    return header


def _check_delimiter(path: str, first_line: str, header: Sequence[str]) -> None:
    """A header that splits into more columns on ';', a tab or '|' than on ',' was saved with that delimiter."""
    for delimiter, name in _OTHER_DELIMITERS:
        fields = next(csv.reader([first_line], delimiter=delimiter))
        if len(fields) > len(header):
            decimal = _decimal_comma(path, delimiter)
            also, option = (f", and its numbers use a decimal comma ({decimal!r})", ", decimal=','") if decimal \
                else ("", "")
            raise DataError(f"{path} separates its columns with {name}, not commas{also}: save it as comma-separated "
                            f"CSV (e.g. pandas.read_csv(path, sep={delimiter!r}{option}).to_csv(new_path, "
                            "index=False))")


def _decimal_comma(path: str, delimiter: str, rows: int = 100) -> Optional[str]:
    """The first field like '3,5' in the first rows of a file delimited by something else than a comma."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        for i, row in enumerate(csv.reader(f, delimiter=delimiter)):
            if i > rows:
                break
            found = next((text for text in row if DECIMAL_COMMA.fullmatch(text)), None)
            if i and found:
                return found
    return None


def encoding_error(path: str) -> DataError:
    """Where the first byte that is not UTF-8 is (line and column), and what the file probably is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as e:
                offset += e.start
                break
            offset += len(block)
        else:
            return DataError(f"{path} ends in the middle of a UTF-8 character: save the file as UTF-8")
        f.seek(0)
        before = f.read(offset + 1)
    bad = before[-1]
    line_start = before.rfind(b"\n", 0, offset) + 1
    line = before.count(b"\n", 0, offset) + 1
    header = next(csv.reader([before[:before.find(b"\n")].decode("latin-1")]), [])
    position = len(next(csv.reader([before[line_start:offset].decode("latin-1")]), [""]))
    column = f"column '{header[position - 1]}'" if line > 1 and 0 < position <= len(header) else \
        f"column {position}"
    guess = " (it looks like Latin-1 or Windows-1252)" if bad >= 0x80 else ""
    return DataError(f"{path}: line {line}, {column}: byte 0x{bad:02X} is not UTF-8; save the file as UTF-8{guess}")


def _check_names(path: str, header: Sequence[str]) -> None:
    seen: Dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise DataError(f"{path}: column {position} of the header has no name: name it, or remove the column")
        # TensorFlow 2.16 turns feature names into function arguments, keeping what str.isalnum()
        # accepts; some of those are not valid in a Python name ('²', '½') and the Evaluator fails.
        unusable = sorted({c for c in name if c.isalnum() and not ("a" + c).isidentifier()})
        if unusable:
            raise DataError(f"{path}: column '{name}' has the character(s) {' '.join(unusable)} which TensorFlow "
                            "cannot use in a feature name: rename the column (e.g. m2 for m²)")
        if name in seen:
            raise DataError(f"{path}: column '{name}' appears twice in the header (columns {seen[name]} and "
                            f"{position}), so one would silently replace the other: rename or remove one")
        seen[name] = position


def _rows(path: str, width: int) -> Iterator[Tuple[int, List[str]]]:
    """(line number, fields) for every data row; blank lines are skipped, as CsvExampleGen does."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, strict=True)  # an unclosed quote is an error, not a field to the end
        next(reader)
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(f"{path}:{reader.line_num} has {len(row)} fields but the header has {width}: "
                                    "fix that row (a missing value is an empty field between commas; quote "
                                    "values that contain commas)")
                yield reader.line_num, row
        except UnicodeDecodeError:
            raise encoding_error(path) from None
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num} is not valid CSV ({e}): a quote opened in or before "
                            "this line may never be closed; quote whole fields and double quotes inside them") from None


def _mentions_non_finite(path: str) -> bool:
    """A fast look at the raw bytes before any field-by-field check (docs/performance.md, "Pre-flight scan")."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            lowered = block.lower()
            if any(mark in lowered for mark in _NONFINITE_MARKS):
                return True
    return False


def _numeric_columns(files: Sequence[str], width: int, candidates: Collection[int]) -> set:
    """Which of the candidate columns hold numbers only (empty fields and NaN/inf aside)."""
    numeric = set(candidates)
    for path in files:
        for _, row in _rows(path, width):
            for i in list(numeric):
                text = row[i]
                if text and as_number(text) is None:
                    numeric.discard(i)
            if not numeric:
                return numeric
    return numeric


def scan(files: Sequence[str], label: str, fixes: Fixes = DATASET_YAML, bom_allowed: bool = False) -> DataProfile:
    """Check every file and profile the label column; raises DataError with one line.

    `fixes` words the fixes for where the label and task are set; `bom_allowed` lets a UTF-8
    byte-order mark through (data.init leaves it out of its copy).
    """
    if not files:
        raise DataError("no CSV files to read")
    columns: Optional[List[str]] = None
    for path in files:
        header = _read_header(path, bom_allowed)
        _check_names(path, header)
        if columns is None:
            columns = header
            if label not in columns:
                raise DataError(f"label column '{label}' is not in {path} (columns: {', '.join(columns)}): "
                                f"{fixes.label} to one of them")
        elif header != columns:
            added, lost = sorted(set(header) - set(columns)), sorted(set(columns) - set(header))
            what = (f"it has {added} and lacks {lost}" if added or lost else "the same columns in another order")
            raise DataError(f"{path} has a different header than {files[0]} ({what}): every CSV file of a "
                            "dataset needs the same header")
    width, label_index = len(columns), columns.index(label)
    profile = LabelProfile(label)
    suspects: Dict[int, Where] = {}
    labelled_in: Dict[str, int] = {}
    for path in files:
        before = profile.labelled
        if not _mentions_non_finite(path):
            for line, row in _rows(path, width):
                profile.add(row[label_index], path, line)
            labelled_in[path] = profile.labelled - before
            continue
        for line, row in _rows(path, width):
            profile.add(row[label_index], path, line)
            for i, text in enumerate(row):
                if i not in suspects and i != label_index and NONFINITE.fullmatch(text):
                    suspects[i] = Where(path, line, text)
        labelled_in[path] = profile.labelled - before
    if profile.rows == 0:
        raise DataError(f"no rows: {', '.join(files)} {'has' if len(files) == 1 else 'have'} a header but no data")
    if profile.labelled == 0:
        raise DataError(f"label column '{label}' is empty in every one of the {profile.rows} rows: fill it in, "
                        f"or {fixes.label} to the column to predict")
    numeric = _numeric_columns(files, width, suspects) if suspects else set()
    return DataProfile(files=tuple(files), columns=tuple(columns), rows=profile.rows, label=profile,
                       non_finite={columns[i]: suspects[i] for i in sorted(numeric)}, labelled_in=labelled_in)

