"""TF Serving's Classify and Regress APIs, shared by REST (`:classify`, `:regress`) and gRPC.

Both take tf.Examples and run a signature whose method name says which API it serves
(models/model.py exports `classification` or `regression`). As in TF Serving the
signature is the request's `signature_name`, else `serving_default`; a signature of the
other kind is refused with TF Serving's message plus the name of the one that fits, so a
client written against this server works unchanged against TF Serving.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from serving.contract import API_INPUT, CLASSIFY_METHOD, REGRESS_METHOD, SERVING_SIGNATURE
from serving.server.errors import invalid_argument
from serving.server.servable import Servable

CLASSIFY = "classify"
REGRESS = "regress"
METHODS = {CLASSIFY: CLASSIFY_METHOD, REGRESS: REGRESS_METHOD}
KINDS = {CLASSIFY: "classification", REGRESS: "regression"}
CLASSES = "classes"
SCORES = "scores"
OUTPUTS = "outputs"


def check_signature(servable: Servable, signature_name: str, api: str) -> None:
    """TF Serving's checks of a classify/regress signature, with a hint where they fail."""
    name = signature_name or SERVING_SIGNATURE
    signature = servable.signature_def(name)
    if signature.method_name != METHODS[api]:
        fitting = servable.signatures_with_method(METHODS[api])
        hint = (f"; this model's {KINDS[api]} signature is '{fitting[0]}' (send it as signature_name)" if fitting
                else f"; this model has no {KINDS[api]} signature")
        raise invalid_argument(f"Expected {KINDS[api]} signature method_name to be {METHODS[api]}. "
                               f"Was: {signature.method_name}{hint}")
    if set(signature.inputs) != {API_INPUT}:
        raise invalid_argument(f"No {KINDS[api]} inputs found in SignatureDef: {signature.inputs}")


def inputs(serialized: Sequence[bytes]) -> Dict[str, np.ndarray]:
    """The examples as the signature's input (core.predict runs it, batched and logged like a predict)."""
    if not serialized:
        raise invalid_argument("Invalid argument: Input is empty.")
    return {API_INPUT: np.array(list(serialized), dtype=object)}


def classifications(outputs: Mapping[str, np.ndarray]) -> List[List[Tuple[Optional[str], Optional[float]]]]:
    """Per example, (label, score) per class; a missing output gives None, as TF Serving leaves it unset."""
    classes, scores = outputs.get(CLASSES), outputs.get(SCORES)
    shape = (classes if classes is not None else scores).shape
    if len(shape) != 2:
        raise invalid_argument(f"Expected Tensor shape: [batch_size num_classes] but got {list(shape)}")
    result = []
    for i in range(shape[0]):
        labels = [c.decode() if isinstance(c, bytes) else str(c) for c in classes[i]] if classes is not None \
            else [None] * shape[1]
        values = [float(s) for s in scores[i]] if scores is not None else [None] * shape[1]
        result.append(list(zip(labels, values)))
    return result


def regressions(outputs: Mapping[str, np.ndarray]) -> List[float]:
    values = outputs[OUTPUTS]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise invalid_argument(f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                               f"but got {list(values.shape)}")
    return [float(v) for v in values]
