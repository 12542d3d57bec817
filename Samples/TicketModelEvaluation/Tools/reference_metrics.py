"""Independent reference for the ticket sample's metrics (numpy, no Swift code involved).

Reads the incident CSV, keeps rows where both `sys_updated_at` and `closed_at` are present,
computes target = closed_at - sys_updated_at in seconds and the priority model's prediction,
then MAE, MedAE, MSE, R2 (scikit-learn's definitions) and target statistics.

Usage: python3 reference_metrics.py FILE.csv
"""
import csv
import sys
from datetime import datetime

import numpy as np

HOURS = {"1 - Critical": 6, "2 - High": 24, "3 - Moderate": 120, "4 - Low": 240}


def parse(text):
    return None if text == "?" else datetime.strptime(text, "%d/%m/%Y %H:%M")


actual, predicted = [], []
with open(sys.argv[1], newline="") as handle:
    for row in csv.DictReader(handle):
        updated, closed = parse(row["sys_updated_at"]), parse(row["closed_at"])
        if updated is None or closed is None:
            continue
        actual.append((closed - updated).total_seconds())
        predicted.append(HOURS.get(row["priority"], 180) * 3600.0)
y, p = np.array(actual), np.array(predicted)
err = y - p
print("num_obs", len(y))
print("MAE", repr(float(np.mean(np.abs(err)))))
print("MedAE", repr(float(np.median(np.abs(err)))))
print("MSE", repr(float(np.mean(err**2))))
print("R2", repr(float(1 - np.sum(err**2) / np.sum((y - y.mean()) ** 2))))
print("mean", repr(float(y.mean())), "median", repr(float(np.median(y))))
print("min", repr(float(y.min())), "max", repr(float(y.max())))
