"""Array-backed ``TensorData``: no list until asked for, the usual JSON, value equality, pickles."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from tinkex import types
from tinkex.proto import codec
from tinkex.types._mixins import flat_values, value_count


def backed(tensor: types.TensorData) -> bool:
    return tensor._array is not None and "data" not in tensor.__dict__


def test_from_numpy_view_aliases_the_array_without_a_list():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = types.TensorData.from_numpy_view(array)
    assert backed(tensor) and tensor.to_numpy() is array
    assert tensor.dtype == types.TensorDtype.float32 and tensor.shape == [2, 3]
    array[0, 0] = 42.0  # a view: the tensor sees the change
    assert tensor.data[0] == 42.0


def test_from_numpy_view_converts_other_dtypes():
    tensor = types.TensorData.from_numpy_view(np.array([1, 2], dtype=np.int32))
    assert tensor.dtype == types.TensorDtype.int64 and tensor.to_numpy().dtype == np.int64
    floats = types.TensorData.from_numpy_view(np.array([0.5], dtype=">f8"))
    assert floats.to_numpy().dtype == np.float32 and floats.data == [0.5]


def test_from_numpy_owns_a_copy():
    source = np.array([[1.0, 2.0], [3.0, 4.0]])
    tensor = types.TensorData.from_numpy(source)
    source[:] = 0
    assert backed(tensor) and tensor.data == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(TypeError, match="numbers only"):
        types.TensorData.from_numpy(np.array(["a"]))


def test_the_json_is_that_of_a_list_backed_tensor_and_no_list_is_kept():
    array = np.array([[0.25, -1.5], [3.0, 7.125]], dtype=np.float32)
    tensor = types.TensorData.from_numpy_view(array)
    plain = types.TensorData(data=[0.25, -1.5, 3.0, 7.125], dtype="float32", shape=[2, 2])
    assert tensor.model_dump_json() == plain.model_dump_json()
    assert tensor.model_dump() == plain.model_dump()
    assert tensor.model_dump(mode="json", exclude_none=True) == {
        "data": [0.25, -1.5, 3.0, 7.125], "dtype": "float32", "shape": [2, 2]}
    assert tensor.model_dump(exclude_unset=True)["data"] == [0.25, -1.5, 3.0, 7.125]
    assert "data" not in tensor.model_dump(exclude={"data"})
    assert backed(tensor)  # serialising built a temporary list only
    assert types.TensorData.model_validate_json(tensor.model_dump_json()) == tensor


def test_reading_data_makes_the_list_the_value():
    tensor = types.TensorData.from_numpy(np.array([1, 2, 3]))
    values = tensor.data
    assert values == [1, 2, 3] and tensor.data is values and tensor._array is None
    values[0] = 10  # the list is now what the tensor holds
    assert tensor.to_numpy().tolist() == [10, 2, 3]
    other = types.TensorData.from_numpy(np.array([1, 2]))
    other.data = [9, 9]  # an assigned list wins over the array as well
    assert other.to_numpy().tolist() == [9, 9] and other.model_dump()["data"] == [9, 9]


def test_equality_compares_values_whichever_form_holds_them():
    array = types.TensorData.from_numpy(np.array([1.5, 2.5], dtype=np.float32))
    plain = types.TensorData(data=[1.5, 2.5], dtype="float32", shape=[2])
    assert array == plain and plain == array and array == copy.copy(array)
    assert array != types.TensorData(data=[1.5, 2.0], dtype="float32", shape=[2])
    assert array != types.TensorData(data=[1.5, 2.5], dtype="float32")  # no shape
    assert array != types.TensorData.from_numpy(np.array([1, 2]))
    assert (types.TensorData(data=[1, 2], dtype="int64") ==
            types.TensorData(data=[1, 2], dtype="int64"))
    assert array != "not a tensor"


def test_pickle_and_copies_keep_the_array():
    tensor = types.TensorData.from_numpy_view(np.arange(4, dtype=np.int64))
    for clone in (pickle.loads(pickle.dumps(tensor)), copy.deepcopy(tensor), copy.copy(tensor)):
        assert backed(clone) and clone == tensor
    assert copy.deepcopy(tensor).to_numpy() is not tensor.to_numpy()


def test_repr_shows_the_array():
    tensor = types.TensorData.from_numpy_view(np.array([1, 2]))
    assert "data=array([1, 2])" in repr(tensor)


def test_datums_built_from_arrays_are_backed_and_send_the_same_json():
    datum = types.Datum(model_input=[1, 2, 3], loss_fn_inputs={
        "target_tokens": np.array([2, 3, 4]), "weights": [1.0, 1.0, 0.5]})
    targets, weights = datum.loss_fn_inputs["target_tokens"], datum.loss_fn_inputs["weights"]
    assert backed(targets) and backed(weights)
    assert datum.model_dump(mode="json", exclude_none=True)["loss_fn_inputs"] == {
        "target_tokens": {"data": [2, 3, 4], "dtype": "int64", "shape": [3]},
        "weights": {"data": [1.0, 1.0, 0.5], "dtype": "float32", "shape": [3]}}
    assert value_count(targets) == 3 and isinstance(flat_values(targets), np.ndarray)
    assert backed(targets)  # counting and reading the values for an encoder built no list


def test_protobuf_encoding_reads_the_array_and_matches_the_list_form():
    listed = types.Datum(model_input=types.ModelInput.from_ints([5, 6]), loss_fn_inputs={
        "target_tokens": types.TensorData(data=[6, 7], dtype="int64", shape=[2]),
        "weights": types.TensorData(data=[1.0, 0.5], dtype="float32", shape=[2])})
    arrays = types.Datum(model_input=[5, 6], loss_fn_inputs={
        "target_tokens": np.array([6, 7]), "weights": np.array([1.0, 0.5])})
    encode = codec.encode_forward_backward_request
    fb = types.ForwardBackwardInput
    assert (encode("m", 1, fb(data=[listed], loss_fn="cross_entropy")) ==
            encode("m", 1, fb(data=[arrays], loss_fn="cross_entropy")))
    assert codec.estimate_datum_bytes(arrays) == codec.estimate_datum_bytes(listed) == 8 + 16 + 8
    assert all(backed(t) for t in arrays.loss_fn_inputs.values())


def test_decoded_request_and_sample_tensors_are_backed_sparse_ones_too():
    dense = types.TensorData.from_numpy(np.array([[1.0, 2.0]], dtype=np.float32))
    sparse = types.TensorData(data=[3.0, 4.0], dtype="float32", shape=[2, 3],
                              sparse_crow_indices=[0, 1, 2], sparse_col_indices=[2, 0])
    response = types.SampleResponse(
        sequences=[types.SampledSequence(stop_reason="length", tokens=[1], logprobs=[-0.5])],
        target_prompt_logprobs=sparse,
        prompt_alt_tokens=types.PromptAltTokens(tokens=types.TensorData.from_numpy(
            np.array([[7, 8]])), logprobs=dense))
    decoded = codec.decode_sample_response(codec.encode_sample_response(response))
    target = decoded.target_prompt_logprobs
    assert target is not None and backed(target)
    assert target.to_numpy().tolist() == [[0.0, 0.0, 3.0], [4.0, 0.0, 0.0]]
    assert target == sparse and decoded.prompt_alt_tokens == response.prompt_alt_tokens
    assert decoded.prompt_alt_tokens is not None and backed(decoded.prompt_alt_tokens.logprobs)


def test_decoded_outputs_are_writable_views_of_one_buffer():
    output = types.ForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord", metrics={}, loss_fn_outputs=[
            {"logprobs": types.TensorData.from_numpy(np.full(n, -1.0, dtype=np.float32))}
            for n in (3, 5)])
    decoded = codec.decode_forward_backward_output(codec.encode_forward_backward_output(output))
    first, second = (o["logprobs"] for o in decoded.loss_fn_outputs)
    assert backed(first) and backed(second) and decoded == output
    assert first.to_numpy().flags.writeable
    assert np.shares_memory(first.to_numpy().base, second.to_numpy().base)  # no per-datum copy
