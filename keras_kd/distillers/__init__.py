from keras_kd.distillers.base import Trainer
from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.init_stage import InitStage
from keras_kd.distillers.multi_teacher import MultiTeacherDistiller
from keras_kd.distillers.mutual import MutualDistiller, mutual_losses
from keras_kd.distillers.reskd import (
    ResidualDistiller,
    ResidualEnsemble,
    dataset_energy,
    energy,
    res_student_trainer,
    train_reskd,
)
from keras_kd.distillers.gkt import GKT
from keras_kd.distillers.gkt_sampler import SubnetSampler
from keras_kd.distillers.stimulative import StimulativeTraining
from keras_kd.distillers.stochastic_depth import StochasticDepth
from keras_kd.distillers.subnet import SubnetTrainer
