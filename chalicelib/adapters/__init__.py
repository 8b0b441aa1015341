"""Outside systems behind small interfaces. Real ones talk to AWS through boto3 (moto locally);
simulated ones (named `Simulated...`) stand in for parties we cannot reach from here."""
