"""keras_kd.StimulativeTraining (ye2022): its loss against numpy, fitting and saving."""

import re

import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.helpers import CLASSES, SHAPE, image_batch, np_subnet_loss, small_resnet, softmax, to_np


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_stimulative_training_loss_equals_numpy(rng, temperature):
    st = kd.StimulativeTraining(small_resnet(14), kl_weight=0.7, temperature=temperature, seed=0)
    st.compile(optimizer="sgd")
    y = rng.integers(0, CLASSES, 4)
    main, sub = (rng.standard_normal((4, CLASSES)).astype("float32") for _ in range(2))
    images = np.zeros((4,) + SHAPE, "float32")
    y_pred = {"logits": ops.convert_to_tensor(main), "subnet_logits": ops.convert_to_tensor(sub)}
    loss = st.compute_loss(images, y, y_pred, training=True)
    p = softmax(main.astype("float64") / temperature)
    kl = np.sum(p * (np.log(p) - np.log(softmax(sub.astype("float64") / temperature))), -1)
    expected = np_subnet_loss(y, main, np.zeros_like(p), np.zeros(4, bool), 0.0, 1.0) + 0.7 * temperature**2 * kl.mean()
    np.testing.assert_allclose(float(to_np(loss)), expected, rtol=1e-5)


def test_stimulative_training_fits_and_round_trips(tmp_path, rng):
    st = kd.StimulativeTraining(small_resnet(14), kl_weight=0.5, seed=1)
    st.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x, y = image_batch(rng, 16)
    history = st.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert {"loss", "ce_loss", "st_loss", "accuracy"} <= set(history.history)
    assert np.all(np.isfinite(history.history["loss"])) and history.history["st_loss"][-1] > 0
    assert set(st.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    path = str(tmp_path / "st.keras")
    st.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_config() == st.get_config()
    np.testing.assert_array_equal(to_np(loaded.seed_generator.state), to_np(st.seed_generator.state))
    np.testing.assert_allclose(to_np(loaded.model(x)), to_np(st.model(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=re.escape("kl_weight=-1")):
        kd.StimulativeTraining(small_resnet(14), kl_weight=-1)
