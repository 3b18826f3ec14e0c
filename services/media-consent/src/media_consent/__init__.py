"""Media consent: pupils' photo and video consent, the MLE's check before publishing, image scans."""
