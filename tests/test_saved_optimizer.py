import keras

from keras_kd.backend.saved_optimizer import portable


def torch_entry(class_name="SGD", **config):
    return {"module": f"keras.src.backend.torch.optimizers.torch_{class_name.lower()}", "class_name": class_name,
            "config": {"learning_rate": 0.1, **config}, "registered_name": class_name}


def test_a_built_in_optimizer_of_a_backend_module_becomes_this_backends_class():
    compile_config = {"optimizer": torch_entry(momentum=0.9), "loss": None, "metrics": ["accuracy"]}
    converted = portable(compile_config)
    assert converted["optimizer"]["module"] == "keras.optimizers"
    assert converted["metrics"] == ["accuracy"] and converted["loss"] is None
    optimizer = keras.saving.deserialize_keras_object(converted["optimizer"])
    assert type(optimizer) is type(keras.optimizers.SGD())
    assert (round(float(optimizer.learning_rate), 6), optimizer.momentum) == (0.1, 0.9)
    assert compile_config["optimizer"]["module"].startswith("keras.src.backend.torch")  # input unchanged


def test_a_wrapped_optimizer_is_converted_inside_its_wrapper():
    wrapper = {"module": "keras.optimizers", "class_name": "LossScaleOptimizer",
               "config": {"inner_optimizer": torch_entry("Adam")}, "registered_name": None}
    inner = portable(wrapper)["config"]["inner_optimizer"]
    assert inner["module"] == "keras.optimizers" and inner["class_name"] == "Adam"


def test_other_objects_are_left_as_saved():
    custom = {"module": "keras_kd.optimizers", "class_name": "SGD", "config": {}, "registered_name": "keras_kd>SGD"}
    unknown = {**torch_entry(), "class_name": "NotAnOptimizer"}
    layer = {"module": "keras.src.backend.torch.layers", "class_name": "Dense", "config": {}}
    assert portable([custom, unknown, layer, 3, "x"]) == [custom, unknown, layer, 3, "x"]
