-- Who, when and where of every loaded recording: its patient, session, recording date, and the site and
-- trial arm of the session (else the patient's). The fact views (v_frames, v_emotion_windows,
-- v_utterances) join it, so every fact row carries them without a join of its own.
with src_sessions as (
    select recording_sha256, patient_id, session_id, recorded_at, site, trial_arm from sessions
),

src_patients as (
    select patient_id, site, trial_arm from patients
),

final as (
    select
        s.recording_sha256,
        s.patient_id,
        s.session_id,
        s.recorded_at,
        coalesce(s.site, p.site) as site,
        coalesce(s.trial_arm, p.trial_arm) as trial_arm
    from src_sessions as s
    left join src_patients as p on p.patient_id = s.patient_id
)

select * from final
