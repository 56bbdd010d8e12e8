"""A hand-written PyTorch KD loop: the reference the ``backends`` suite beats.

Plain torch in the style of the attention-transfer / Moonshine reference
code: NCHW, ``nn.Conv2d``, eager; the teacher in eval mode under
``torch.no_grad``; loss ``alpha T^2 KL(p_t || p_s) + (1 - alpha) CE``; SGD
with momentum 0.9. The networks are the architecture of
``keras_kd.models.wide_resnet`` rebuilt in torch (same trainable parameter
count, which the suite records), not the Keras layers: the comparison is
against what a PyTorch user would write and run, with torch's own kernels.
"""

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Pre-activation WRN block; a 1x1 shortcut conv where channels change."""

    def __init__(self, channels_in, channels_out, stride):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(channels_in), nn.BatchNorm2d(channels_out)
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.shortcut = None
        if channels_in != channels_out:
            self.shortcut = nn.Conv2d(channels_in, channels_out, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    """WRN-``depth``-``width`` as ``keras_kd.models.wide_resnet`` builds it."""

    def __init__(self, depth, width, num_classes):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        blocks = []
        for stage in range(3):
            for index in range(n):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(Block(widths[stage + (index > 0)], widths[stage + 1], stride))
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(widths[3])
        self.fc = nn.Linear(widths[3], num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def trainable_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def kd_loss(student_logits, teacher_logits, labels, temperature=4.0, alpha=0.9):
    """Hinton KD: ``alpha T^2 KL`` (batch mean) plus ``(1 - alpha) CE``."""
    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, 1),
        F.log_softmax(teacher_logits / temperature, 1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * temperature**2 * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)


def to_torch(x, y):
    """NHWC numpy images and labels as NCHW float and int64 tensors."""
    return torch.as_tensor(x).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(y).long()


def train_step_fn(student, x, y, teacher=None):
    """One SGD step on batch ``(x, y)`` as a no-arg callable; KD if ``teacher``."""
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)
    images, labels = to_torch(x, y)
    student.train()
    if teacher is not None:
        teacher.eval()

    def step():
        if teacher is not None:
            with torch.no_grad():
                teacher_logits = teacher(images)
        logits = student(images)
        if teacher is None:
            loss = F.cross_entropy(logits, labels)
        else:
            loss = kd_loss(logits, teacher_logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def reference_steps(teacher, x, y):
    """``{torch_loop_kd, torch_loop_student}``: WRN-16-2 steps, KD from ``teacher`` and plain."""
    return {
        "torch_loop_kd": train_step_fn(WideResNet(16, 2, 10), x, y, teacher=teacher),
        "torch_loop_student": train_step_fn(WideResNet(16, 2, 10), x, y),
    }
