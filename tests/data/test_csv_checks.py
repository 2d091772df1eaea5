"""Pre-flight checks: each bad CSV is one line naming the file, the column and the fix."""
import codecs

import pytest

from data.csv_checks import MAX_CLASSES, DataError, scan

HEADER = "species,island,bill_length_mm,body_mass_g\n"
ROWS = "Adelie,Dream,39.1,3750\nGentoo,Biscoe,46.1,4500\n"


def _csv(tmp_path, text, name="data.csv", mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def _error(files, label="species") -> str:
    with pytest.raises(DataError) as info:
        scan(files, label)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_clean_file_is_profiled(tmp_path):
    path = _csv(tmp_path, HEADER + ROWS + "\n" + "Adelie,Torgersen,,3800\n")  # a blank line is skipped
    profile = scan([path], "species")
    assert profile.rows == 3 and profile.columns == ("species", "island", "bill_length_mm", "body_mass_g")
    assert dict(profile.label.counts) == {"Adelie": 2, "Gentoo": 1}
    assert profile.label.missing == 0 and not profile.label.numeric
    assert profile.non_finite == {}


def test_duplicate_column_names(tmp_path):
    path = _csv(tmp_path, "species,island,bill_length_mm,island\nAdelie,Dream,39.1,Dream\n")
    message = _error([path])
    assert path in message and "column 'island' appears twice" in message and "(columns 2 and 4)" in message
    assert "rename or remove one" in message


def test_byte_order_mark_is_named(tmp_path):
    path = _csv(tmp_path, codecs.BOM_UTF8 + (HEADER + ROWS).encode(), mode="wb")
    message = _error([path])
    assert path in message and "byte-order mark" in message and "save it as UTF-8 without BOM" in message


def test_utf16_file(tmp_path):
    path = _csv(tmp_path, (HEADER + ROWS).encode("utf-16"), mode="wb")
    assert "is UTF-16 text: save it as UTF-8" in _error([path])


def test_text_that_is_not_utf8_is_placed_at_its_first_bad_byte(tmp_path):
    """A Latin-1 file with a plain ASCII header: the message names the row and column, not the header."""
    rows = "".join(f"Adelie,Dream,39.{i},3750\n" for i in range(3000))  # past the first block read
    path = _csv(tmp_path, (HEADER + rows + "Adelie,Dr\xe9am,39.1,3750\n").encode("latin-1"), mode="wb")
    message = _error([path])
    assert message == (f"{path}: line 3002, column 'island': byte 0xE9 is not UTF-8; save the file as UTF-8 "
                       "(it looks like Latin-1 or Windows-1252)")


@pytest.mark.parametrize("delimiter, named", [(";", "semicolons (';')"), ("\t", "tabs")])
def test_a_file_delimited_otherwise_says_by_what(tmp_path, delimiter, named):
    text = HEADER.replace(",", delimiter) + ROWS.replace(",", delimiter)
    message = _error([_csv(tmp_path, text)])
    assert f"separates its columns with {named}, not commas: save it as comma-separated CSV" in message
    assert "decimal comma" not in message


def test_a_decimal_comma_in_a_semicolon_file_is_named_too(tmp_path):
    text = "species;island;bill_length_mm;body_mass_g\nAdelie;Dream;39,1;3750\n"
    message = _error([_csv(tmp_path, text)])
    assert "semicolons (';'), not commas, and its numbers use a decimal comma ('39,1')" in message
    assert "sep=';', decimal=','" in message


@pytest.mark.parametrize("text, expected", [
    ("", "is empty: a CSV file needs a header row"),
    ("\n\n", "is empty: a CSV file needs a header row"),
    (HEADER, "has a header but no data"),
    (HEADER + "\n\n", "has a header but no data"),
])
def test_empty_and_header_only_files(tmp_path, text, expected):
    path = _csv(tmp_path, text)
    message = _error([path])
    assert path in message and expected in message


def test_every_file_header_only(tmp_path):
    files = [_csv(tmp_path, HEADER, "a.csv"), _csv(tmp_path, HEADER, "b.csv")]
    assert "have a header but no data" in _error(files)


def test_files_whose_headers_differ(tmp_path):
    first = _csv(tmp_path, HEADER + ROWS, "a.csv")
    second = _csv(tmp_path, "species,island,bill_length_mm,mass\nAdelie,Dream,39.1,3750\n", "b.csv")
    message = _error([first, second])
    assert second in message and first in message
    assert "['mass']" in message and "['body_mass_g']" in message and "needs the same header" in message


def test_same_columns_in_another_order(tmp_path):
    first = _csv(tmp_path, HEADER + ROWS, "a.csv")
    second = _csv(tmp_path, "island,species,bill_length_mm,body_mass_g\nDream,Adelie,39.1,3750\n", "b.csv")
    assert "the same columns in another order" in _error([first, second])


def test_a_row_with_too_few_fields(tmp_path):
    path = _csv(tmp_path, HEADER + ROWS + "Adelie,Dream,40.1\n")
    message = _error([path])
    assert f"{path}:4 has 3 fields but the header has 4" in message


def test_a_column_without_a_name(tmp_path):
    path = _csv(tmp_path, "species,,bill_length_mm\nAdelie,Dream,39.1\n")
    assert "column 2 of the header has no name" in _error([path])


def test_label_not_in_header(tmp_path):
    path = _csv(tmp_path, HEADER + ROWS)
    message = _error([path], label="kind")
    assert "label column 'kind' is not in" in message and "set 'label' in dataset.yaml" in message


def test_label_empty_in_every_row(tmp_path):
    path = _csv(tmp_path, HEADER + ",Dream,39.1,3750\n,Biscoe,46.1,4500\n")
    assert "label column 'species' is empty in every one of the 2 rows" in _error([path])


def test_label_with_some_missing_values_is_counted(tmp_path):
    path = _csv(tmp_path, HEADER + ROWS + ",Dream,40.0,3700\n")
    profile = scan([path], "species")
    assert (profile.rows, profile.label.missing, profile.label.labelled) == (3, 1, 2)


def test_numeric_label_profile(tmp_path):
    path = _csv(tmp_path, "price,rooms\n10.5,3\n12,4\nnan,2\n")
    label = scan([path], "price").label
    assert label.numeric and label.fractional and label.non_finite.text == "nan"
    label = scan([_csv(tmp_path, "price,rooms\n10,3\nabc,4\n", "b.csv")], "price").label
    assert not label.numeric and label.non_numeric.text == "abc" and label.non_numeric.line == 3


def test_distinct_label_values_stop_counting_at_the_cap(tmp_path):
    rows = "".join(f"{i},1\n" for i in range(MAX_CLASSES + 50))
    label = scan([_csv(tmp_path, "y,x\n" + rows)], "y").label
    assert label.too_many and len(label.counts) == MAX_CLASSES and label.rows == MAX_CLASSES + 50


@pytest.mark.parametrize("token", ["NaN", "nan", "-inf", "Infinity", " NAN "])
def test_non_finite_strings_in_numeric_columns(tmp_path, token):
    path = _csv(tmp_path, HEADER + ROWS + f"Adelie,Dream,{token},3700\n")
    where = scan([path], "species").non_finite["bill_length_mm"]
    assert (where.path, where.line, where.text) == (path, 4, token)


def test_nan_in_a_text_column_is_a_category(tmp_path):
    path = _csv(tmp_path, HEADER + ROWS + "Adelie,NaN,40.0,3700\n")
    assert scan([path], "species").non_finite == {}


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    path = _csv(tmp_path, 'name,"a, b",y\n"x, y","multi\nline",1\nz,w,0\n')
    profile = scan([path], "y")
    assert profile.columns == ("name", "a, b", "y") and profile.rows == 2


def test_an_unclosed_quote(tmp_path):
    path = _csv(tmp_path, HEADER + ROWS + 'Adelie,Dream,"40.1,3700\n')
    message = _error([path])
    assert path in message and "not valid CSV" in message and "never be closed" in message


def test_a_column_name_tensorflow_cannot_take(tmp_path):
    path = _csv(tmp_path, "price,floor area m²,Blüten-Länge (cm)\n1,2,3\n")
    message = _error([path], label="price")
    assert "column 'floor area m²' has the character(s) ²" in message and "rename the column" in message
