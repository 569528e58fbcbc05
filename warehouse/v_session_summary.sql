-- One row per session: who, when, where, and the summary of the patient's expressed emotion.
with src_sessions as (
    select * from sessions
),

src_summaries as (
    select * from session_summaries
),

final as (
    select
        s.patient_id,
        s.session_id,
        s.recorded_at,
        s.site,
        s.trial_arm,
        s.clinician_id,
        round(s.duration_s, 1) as duration_s,
        m.dominant_emotion,
        round(m.valence_mean, 3) as valence_mean,
        round(m.arousal_mean, 3) as arousal_mean,
        round(m.expressivity_mean, 3) as expressivity_mean,
        round(m.speaking_time_s, 1) as speaking_time_s,
        round(m.face_coverage, 3) as face_coverage,
        round(m.speech_coverage, 3) as speech_coverage,
        m.n_turns,
        m.* exclude (recording_sha256, dominant_emotion, valence_mean, arousal_mean, expressivity_mean,
                     speaking_time_s, face_coverage, speech_coverage, n_turns),
        s.language,
        s.recording_sha256,
        s.pipeline_version,
        s.processed_at
    from src_sessions as s
    join src_summaries as m using (recording_sha256)
)

select * from final
order by patient_id, coalesce(recorded_at, processed_at), session_id
