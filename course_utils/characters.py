"""The 55 handwritten Chinese characters of the course (lessons 3-8)."""

#: The course's characters, in the order SYLLABUS §3 lists them.
COURSE_CHARACTERS = (
    "人从众大夫天口太因鱼犬吠哭火炎啖木林森本竹羊美羔山出女囡鸟日东月朋明肉肤"
    "工白虎门闪问闲水牛马吗妈玉王国主川舟虫"
)
